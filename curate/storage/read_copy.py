"""A read-only local copy of a run directory at a URL, for the commands that look at a run
(`curate status`, `inspect`, `report`, `view`, `push`) rather than compute it.

It lives beside the run's working copy, not in it (`Store.cache_dir("read")`), so reading never
races a `curate run` on the same machine that writes the working copy. `refresh` mirrors the
run's small state (recipe, manifest, run state, fingerprints, markers, flags, reports) with one
listing and one concurrent read, and deletes local files the store no longer holds; the data
(parts, rejects, the dataset) comes down only when a command asks for it (`fetch_parts`,
`fetch_dataset`), checked against its marker or flag like every read from a store. `remote_parts`
names part objects without fetching them: the viewer reads their row groups in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ReadCopy:
    """What `RunDir` offers a command that only reads a run (mixed into `RunDir`)."""

    @classmethod
    def for_reading(cls, location: str | Path) -> Any:
        """The run at `location`: a local folder as it is, a URL as a refreshed read-only copy."""
        rd = cls(location)
        if rd.store:
            # named like the run's last path piece, as a local run's folder is (reports show it)
            rd.path = rd.store.cache_dir("read") / rd.store.root.rsplit("/", 1)[-1]
            rd.refresh()
        return rd

    def _is_state(self, rel: str) -> bool:
        """Is this object part of the run's small state (mirrored whole by `refresh`)?"""
        local = self.path / rel
        stage_dir = self.path / rel.split("/", 1)[0]
        return (local in (self.recipe_path, self.manifest_path, self.run_state_path,
                          self.fingerprint_path(stage_dir), self.flag(stage_dir, "prepared"),
                          self.flag(stage_dir, "finalized"))
                or local.parent == self.marker(stage_dir, 0).parent or local.is_relative_to(self.reports))

    def refresh(self) -> None:
        """Mirror the store's small state into the read copy (reading only objects whose size or
        ETag changed since the last refresh); drop what the store no longer holds."""
        listing = self.store.versions()
        seen_path = self.path / ".versions.json"  # what the last refresh read, by object version
        try:
            seen = json.loads(seen_path.read_text())
        except (OSError, ValueError):  # none yet, or another command is writing it: read everything
            seen = {}
        changed = [rel for rel, version in listing.items() if self._is_state(rel)
                   and (seen.get(rel) != version or not (self.path / rel).exists() or not version.split(":")[1])]
        for rel, data in self.store.cat_many(sorted(changed)).items():
            local = self.path / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
        own = self.push_record("-").parent  # what `curate push --follow` keeps here, not in the store
        for local in sorted(self.path.rglob("*")) if self.path.exists() else ():
            if local.is_file() and self.rel(local) not in listing and not local.name.startswith(".") \
                    and not local.is_relative_to(own):
                local.unlink()
        for folder in sorted(self.path.rglob("*"), reverse=True) if self.path.exists() else ():
            if folder.is_dir() and not any(folder.iterdir()):  # a stage the store dropped (--force)
                folder.rmdir()
        if self.path.exists():
            seen_path.write_text(json.dumps({rel: v for rel, v in listing.items() if self._is_state(rel)}))

    def _marked_files(self, stage_dir: Path) -> dict[str, dict]:
        """The part files and rejects the stage's markers name (not its scratch files)."""
        wanted = {}
        for marker in self.markers(stage_dir):
            part = int(marker.stem.split("-")[1])
            keep = {self.rel(self.part_path(stage_dir, part)), self.rel(self.rejected_path(stage_dir, part))}
            wanted.update({rel: want for rel, want in json.loads(marker.read_text()).get("files", {}).items()
                           if rel in keep})
        return wanted

    def fetch_parts(self, stage_dirs: list[Path] | None = None) -> None:
        """Bring the marked parts and rejects of these stages (default: all) into the read copy."""
        if self.store:
            for stage_dir in self.stage_dirs() if stage_dirs is None else stage_dirs:
                self.fetch(self._marked_files(stage_dir))

    def fetch_scratch(self, stage_dir: Path, part: int) -> None:
        """Bring the scratch files a part's marker names (write's shards) into the read copy."""
        if self.store and self.marker(stage_dir, part).exists():
            scratch = self.scratch(stage_dir, part)
            named = json.loads(self.marker(stage_dir, part).read_text()).get("files", {})
            self.fetch({rel: want for rel, want in named.items() if (self.path / rel).is_relative_to(scratch)})

    def fetch_dataset(self) -> None:
        """Bring the published `dataset/` (what the `write` stage's `_finalized` flag names) down."""
        if self.store:
            self.fetch(self._finalized_dataset())

    def _finalized_dataset(self) -> dict[str, dict]:
        """What the `write` stage's `_finalized` flag names inside `dataset/` (path -> size, sha256)."""
        named = {}
        for stage_dir in self.stage_dirs():
            flag = self.flag(stage_dir, "finalized")
            files = json.loads(flag.read_text() or "{}").get("files", {}) if flag.exists() else {}
            named.update({rel: want for rel, want in files.items() if (self.path / rel).is_relative_to(self.dataset)})
        return named

    def dataset_location(self) -> str | None:
        """Where the run's finished dataset is (its folder or URL), None before `write` finished."""
        if not self.store:
            return str(self.dataset) if (self.dataset / "README.md").exists() else None
        readme = self.rel(self.dataset / "README.md")
        return self.store.url_of(self.rel(self.dataset)) if readme in self._finalized_dataset() else None

    def remote_dataset(self) -> dict[str, str]:
        """The finished dataset's files, by path inside `dataset/` -> URL (nothing is downloaded)."""
        start = len(self.rel(self.dataset)) + 1
        return {rel[start:]: self.store.url_of(rel) for rel in sorted(self._finalized_dataset())}

    def remote_parts(self, stage_dir: Path) -> list[str]:
        """The URLs of the stage's marked part files, in part order (nothing is downloaded)."""
        named = self._marked_files(stage_dir)
        rejected = self.rejected_dir(stage_dir)
        return [self.store.url_of(rel) for rel in sorted(named) if not (self.path / rel).is_relative_to(rejected)]

    def remote_rejects(self) -> list[str]:
        """The URLs of every stage's marked reject files (by stage, then part)."""
        rejects = []
        for stage_dir in self.stage_dirs():
            rejected = self.rejected_dir(stage_dir)
            rejects += sorted(self.store.url_of(rel) for rel in self._marked_files(stage_dir)
                              if (self.path / rel).is_relative_to(rejected))
        return rejects
