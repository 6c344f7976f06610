"""The local working copy of a run directory at a URL: what `RunDir` moves to and from the store.

A finished part's files go up, then its marker naming each file's size and sha256; a phase's
outputs go up before its flag, which names them the same way; readers fetch exactly what a marker
or flag names and check it. Every method is a no-op for a local run (`store` is None).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from curate.errors import CurateError
from curate.storage.store import Store, digest, matches

FLAGS = ("prepared", "finalized")


class WorkingCopy:
    """What `RunDir` does with a store: its local working copy and the files moved to and from
    the store. Every method is a no-op for a local run (`store` is None)."""

    store: Store | None
    path: Path
    #: the store's objects (path -> size) as `pull` found them, kept up to date by this process's
    #: deletes: a driver that pulled knows what the store holds without asking again (until its
    #: tasks run, it is the only writer of a run directory)
    listed: dict[str, int] | None = None

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.path).as_posix()

    def publish(self, *paths: Path) -> None:
        """Upload small state files as they are (the recipe, the manifest, fingerprints, markers),
        concurrently."""
        if self.store:
            self.store.put_many([(path, self.rel(path)) for path in paths])

    def is_done(self, stage_dir: Path, part: int) -> bool:
        if self.store:  # the marker object is what makes a part exist
            return self.store.exists(self.rel(self.marker(stage_dir, part)))
        return self.marker(stage_dir, part).exists()

    def mark_done(self, stage_dir: Path, part: int, stats: dict[str, Any]) -> None:
        """Mark a part done. On a store: upload its files first (replacing leftovers of earlier
        attempts; the runner deletes the others, `remove_unmarked`), then the marker naming each
        file's size and sha256."""
        self.mark_many(stage_dir, {part: stats})

    def mark_many(self, stage_dir: Path, stats: dict[int, dict[str, Any]]) -> None:
        """Mark several parts done (`mark_done`); on a store their markers go up together."""
        for part, counts in stats.items():
            if self.store:
                counts = {**counts, "files": self.upload(self.part_files(stage_dir, part))}
            write_json_atomic(self.marker(stage_dir, part), counts)
        self.publish(*(self.marker(stage_dir, part) for part in stats))

    def upload(self, files: Iterable[Path]) -> dict[str, dict]:
        """Upload the files that exist; return what a marker names: path -> size and sha256."""
        present = [path for path in files if path.exists()]
        listed = {self.rel(path): digest(path) for path in present}
        self.store.put_many([(path, self.rel(path)) for path in present])
        return listed

    def remove_unmarked(self, stage_dir: Path, num_parts: int) -> None:
        """Delete what earlier, killed attempts left in the store for parts without a marker (their
        part files and rejects), with one listing and one bulk delete; readers ignore such objects
        anyway, and a rerun of the part overwrites what it writes again."""
        if not self.store:
            return
        held = self.listed if self.listed is not None else \
            self.store.listing(self.rel(stage_dir)) | self.store.listing(self.rel(self.rejected_dir(stage_dir)))
        files = (self.part_path, self.rejected_path)
        stale = [self.rel(f(stage_dir, p)) for p in range(num_parts) if self.rel(self.marker(stage_dir, p)) not in held
                 for f in files if self.rel(f(stage_dir, p)) in held]
        self.store.delete_many(stale)
        self.forget(stale)

    def forget(self, rels: Iterable[str], prefix: bool = False) -> None:
        """Drop deleted objects (or everything under deleted prefixes) from `listed`."""
        if self.listed is None:
            return
        for rel in rels:
            for held in [h for h in self.listed if h.startswith(f"{rel}/")] if prefix else [rel]:
                self.listed.pop(held, None)

    def done_parts(self, stage_dir: Path, num_parts: int) -> set[int]:
        """The parts whose markers exist (on a store: one listing, not a request per part; none
        after `pull`, which made the working copy's markers the store's)."""
        if not self.store or self.listed is not None:
            return {p for p in range(num_parts) if self.marker(stage_dir, p).exists()}
        listed = self.store.listing(self.rel(self.marker(stage_dir, 0).parent))
        return {p for p in range(num_parts) if self.rel(self.marker(stage_dir, p)) in listed}

    def fetch(self, listed: dict[str, dict]) -> None:
        """Make the working copy hold exactly the files a marker or flag names (downloading only
        those whose local copy is missing or differs), or fail if the store's copy differs too."""
        for rel, want in listed.items():
            local = self.path / rel
            if not matches(local, want):
                self.store.get(rel, local)
                if not matches(local, want):
                    raise CurateError(f"{self.store.url_of(rel)} does not match its marker (size/sha256).",
                                      "Another run is writing this run directory, or the object was edited: "
                                      "rerun with --force on that stage.")

    def read_marker(self, path: Path) -> dict | None:
        """A marker or flag from the store, saved into the working copy (None when absent)."""
        data = self.store.cat(self.rel(path))
        if data is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return json.loads(data) if data.strip() else {}

    def fetch_part(self, stage_dir: Path, part: int) -> None:
        """Bring a finished part's files (and marker) into the working copy."""
        if self.store:
            marker = self.marker(stage_dir, part)
            if marker in getattr(self, "fresh", ()):  # read from the store by this task already
                stats = json.loads(marker.read_text()) if marker.exists() else {}
            else:
                stats = self.read_marker(marker)
            self.fetch((stats or {}).get("files", {}))

    def fetch_stage(self, stage_dir: Path, num_parts: int) -> None:
        """Bring every finished part of a stage into the working copy (markers read at once)."""
        if not self.store:
            return
        markers = {self.rel(self.marker(stage_dir, p)): self.marker(stage_dir, p) for p in range(num_parts)}
        if self.listed is not None:  # pulled: the working copy holds the store's markers (and its own)
            for marker in markers.values():
                if marker.exists():
                    self.fetch(json.loads(marker.read_text()).get("files", {}))
            return
        for rel, data in self.store.cat_many(list(markers)).items():
            markers[rel].parent.mkdir(parents=True, exist_ok=True)
            markers[rel].write_bytes(data)
            self.fetch(json.loads(data).get("files", {}))

    def has_part(self, stage_dir: Path, part: int) -> bool:
        """Did the stage keep this part's file (a view or a part streamed on has none)?"""
        if self.store:
            marker = self.marker(stage_dir, part)
            stats = json.loads(marker.read_text()) if marker.exists() else self.read_marker(marker) or {}
            return self.rel(self.part_path(stage_dir, part)) in stats.get("files", {})
        return self.part_path(stage_dir, part).exists()

    def has_flag(self, stage_dir: Path, name: str) -> bool:
        return self.flag(stage_dir, name).exists()

    def set_flag(self, stage_dir: Path, name: str, since: float) -> None:
        """Raise a phase flag. On a store, first upload what the phase wrote (the stage's artifacts,
        reports, the dataset: files changed since `since`) and name them in the flag."""
        flag = self.flag(stage_dir, name)
        if not self.store:
            flag.touch()
            return
        changed = [f for d in (self.artifacts(stage_dir), self.reports) if d.exists() for f in sorted(d.rglob("*"))
                   if f.is_file() and f.stat().st_mtime >= since - 1]
        replaced = self.dataset.exists() and self.dataset.stat().st_mtime >= since - 1  # write made dataset/
        shards = sorted(f for f in self.dataset.rglob("*") if f.is_file()) if replaced else []
        stored = self.stored_links(stage_dir) if replaced else {}
        copies = {f: stored[(f.stat().st_dev, f.stat().st_ino)] for f in shards
                  if (f.stat().st_dev, f.stat().st_ino) in stored}
        # shards are links to older files (their mtime says nothing); those already in the store
        # as write's part files are copied there, not uploaded again
        listed = self.upload(changed + [f for f in shards if f not in copies])
        self.store.copy_many([(src, self.rel(f), want["size"]) for f, (src, want) in copies.items()])
        listed.update({self.rel(f): want for f, (_, want) in copies.items()})
        if replaced:  # what an older dataset/ holds that this one lacks goes
            here, prefix = {self.rel(f) for f in shards}, f"{self.rel(self.dataset)}/"
            held = [r for r in self.listed if r.startswith(prefix)] if self.listed is not None else \
                self.store.listing(self.rel(self.dataset))
            stale = sorted(set(held) - here)
            self.store.delete_many(stale)
            self.forget(stale)
        write_json_atomic(flag, {"files": listed})
        self.publish(flag)

    def stored_links(self, stage_dir: Path) -> dict[tuple[int, int], tuple[str, dict]]:
        """The stage's part files already in the store, by local inode -> (path, size and sha256),
        for files linked elsewhere (write links its shards into dataset/)."""
        out = {}
        for marker in self.markers(stage_dir):
            for rel, want in json.loads(marker.read_text()).get("files", {}).items():
                local = self.path / rel
                if local.exists() and local.stat().st_size == want["size"]:
                    out[(local.stat().st_dev, local.stat().st_ino)] = (rel, want)
        return out

    def fetch_flagged(self, stage_dir: Path, name: str = "prepared") -> None:
        """Bring what a phase wrote (artifacts) into the working copy, unless it is there already."""
        if not self.store:
            return
        flag = self.flag(stage_dir, name)
        held = flag.read_bytes() if flag.exists() else None
        data = self.store.cat(self.rel(flag))
        if data is not None and data != held:
            self.fetch(json.loads(data).get("files", {}) if data.strip() else {})
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.write_bytes(data)

    def pull(self) -> None:
        """Mirror the store's state into the working copy before a run: the recipe, the manifest,
        each stage's fingerprint, flags (and what they name) and markers. Local markers and flags
        the store lacks go: only what the store holds counts."""
        if not self.store:
            return
        listing = self.store.listing()
        self.listed = dict(listing)
        for rel in sorted(listing):
            pieces = rel.split("/")
            local = self.path / rel
            stage_dir = self.path / pieces[0]
            if local in (self.recipe_path, self.manifest_path, self.fingerprint_path(stage_dir)):
                self.store.get(rel, local)
            elif local.parent == self.marker(stage_dir, 0).parent and not local.exists():
                self.store.get(rel, local)
            elif local == self.flag(stage_dir, "prepared"):
                self.fetch_flagged(stage_dir, "prepared")
            elif local == self.flag(stage_dir, "finalized"):  # what it names (the dataset) stays remote
                self.store.get(rel, local)
        for stage_dir in self.stage_dirs():
            held = [*(self.flag(stage_dir, name) for name in FLAGS), *self.markers(stage_dir),
                    self.fingerprint_path(stage_dir)]
            for path in held:
                if path.exists() and self.rel(path) not in listing:
                    path.unlink()

    def drop_working_copy(self) -> bool:
        """Delete the local working copy of a run on object storage that finished (the store holds
        all of it; a rerun pulls only its state); True when it did. Kept when the run did not
        finish (its parts and request caches make a resume faster), while a `curate push
        --follow` reads it (its push record is there), and with CURATE_KEEP_WORKING_COPY=1."""
        if not self.store or not self.path.exists() or os.environ.get("CURATE_KEEP_WORKING_COPY") == "1":
            return False
        if self.read_run_state().get("state") != "finished" or self.push_dir.exists():
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        return True

    def fetch_recipe(self, known: dict[str, str | None] | None = None) -> None:
        """Bring the recipe into the working copy, unless `known` (`task_state`) says the local
        copy is the store's."""
        if self.store and not _known_here(self.recipe_path, self.rel(self.recipe_path), known or {}):
            self.store.get(self.rel(self.recipe_path), self.recipe_path)

    def task_state(self, stage_dirs: list[Path], part: int) -> dict[str, str | None]:
        """What the driver knows of the store for a task on `part` of these stages: the recipe,
        the prepare flags and the part's markers, each by the sha256 of its bytes (None: absent).
        It passes this with the task, so a task whose working copy already holds those bytes
        (the driver's own, or a worker's from an earlier part) reads nothing from the store;
        on Ray, where its tasks write markers the driver has not seen, it is still right: a
        part whose marker it calls absent is done again, byte-identically."""
        if not self.store or self.listed is None:
            return {}
        paths = [self.recipe_path, *(self.flag(d, "prepared") for d in stage_dirs),
                 *(self.marker(d, part) for d in stage_dirs)]
        return {self.rel(p): _sha(p) if p.exists() else None for p in paths}

    def open_part_task(self, stage_dirs: list[Path], part: int,
                       known: dict[str, str | None] | None = None) -> set[Path]:
        """Ready the working copy for a task on `part` of these stages (a chain and its parent):
        their folders, what their prepare wrote, their markers of `part`, all read at once (the
        files a flag names are fetched only when it changed), except what `known` (`task_state`)
        says the working copy holds already or the store lacks. Returns the folders whose `part`
        is done."""
        if not self.store:
            return {d for d in stage_dirs if self.marker(d, part).exists()}
        known = known or {}
        flags = {self.rel(self.flag(d, "prepared")): self.flag(d, "prepared") for d in stage_dirs}
        markers = {self.rel(self.marker(d, part)): self.marker(d, part) for d in stage_dirs}
        settled = {rel for rel, path in (flags | markers).items() if _known_here(path, rel, known)}
        found = self.store.cat_many([rel for rel in (flags | markers) if rel not in settled])
        found.update({rel: path.read_bytes() for rel, path in (flags | markers).items()
                      if rel in settled and known[rel] is not None})  # held here, as the store has it
        for stage_dir in stage_dirs:
            stage_dir.mkdir(parents=True, exist_ok=True)
        for rel, flag in flags.items():
            data = found.get(rel)
            if data is not None and (not flag.exists() or flag.read_bytes() != data):
                self.fetch(json.loads(data).get("files", {}) if data.strip() else {})
                flag.write_bytes(data)
        for rel, marker in markers.items():
            if rel in found:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_bytes(found[rel])
            else:  # only the store's markers count
                marker.unlink(missing_ok=True)
        self.fresh = set(markers.values())
        return {d for d in stage_dirs if self.rel(self.marker(d, part)) in found}

    def pull_markers(self, stage_dir: Path) -> None:
        """Download the stage's markers written by other machines (Ray workers)."""
        for rel in self.store.listing(self.rel(self.marker(stage_dir, 0).parent)) if self.store else ():
            if not (self.path / rel).exists():
                self.store.get(rel, self.path / rel)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _known_here(path: Path, rel: str, known: dict[str, str | None]) -> bool:
    """Does `known` settle this object: absent from the store, or held here with its bytes?"""
    if rel not in known:
        return False
    return known[rel] is None or (path.exists() and _sha(path) == known[rel])


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    except OSError:  # a full disk: leave no half-written temporary behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
