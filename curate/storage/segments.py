"""Progress a part task saves while it runs, on object storage: small segment objects (the
generation request cache's new entries), so a lost machine costs only the work in flight.

A part's local scratch folder is uploaded only when the part is marked done; until then it
lives on one machine. `Segments` puts what the task wants kept as numbered objects under the
part's segment prefix (`RunDir.segments`), on a helper thread so the task does not wait; a rerun
of the part, on any machine, reads them all back first (`load`); once the part's marker is
written they are deleted (`drop`). Each attempt names its objects with a random tag, so a rerun
never overwrites what an earlier attempt saved before it has read it back.
"""

from __future__ import annotations

import uuid

from curate.storage.store import Store


class Segments:
    """The segment objects of one part of one stage, under `prefix` in `store`."""

    def __init__(self, store: Store, prefix: str):
        self.store, self.prefix = store, prefix
        self.tag = uuid.uuid4().hex[:12]
        self.names: list[str] = []  # read or written by this attempt: deleted by `drop`
        self.count = 0
        self._uploads = None

    def load(self) -> list[bytes]:
        """Every segment earlier attempts saved, oldest attempt's first (one listing, then the
        objects at once)."""
        names = sorted(self.store.listing(self.prefix))
        found = self.store.cat_many(names)
        self.names += names
        return [found[name] for name in names if name in found]

    def save(self, data: bytes) -> None:
        """Upload `data` as the next segment, on a helper thread (a failure is raised by the next
        `save` or by `close`)."""
        from curate.background import Background

        if self._uploads is None:
            self._uploads = Background(self.store.pipe, depth=2)
        name = f"{self.prefix}/{self.tag}-{self.count:05d}.jsonl"
        self.count += 1
        self.names.append(name)
        self._uploads.submit(name, data)

    def close(self) -> None:
        """Wait for the uploads in flight; raise the first failure."""
        if self._uploads is not None:
            uploads, self._uploads = self._uploads, None
            uploads.close()

    def drop(self) -> None:
        """Delete the segments (call once the part's marker is written: they are redundant)."""
        self.close()
        self.store.delete_many(self.names)
        self.names = []
