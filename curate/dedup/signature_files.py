"""What the dedup signature pass writes for one part, and where.

Beside a part's signature Parquet (unit keys, exact hashes, sizes), three companions: LSH band
keys (`bands.npy`, band-major), every unit's shingle values (`shingle_offsets.npy`,
`shingle_values.npy`, for the exact Jaccard check) and the first HEAD_BYTES bytes of each text
(`heads.arrow`, for the report). Prepare deletes the companions when it is done with them.

`SignatureSink` takes a part's texts a piece at a time. Hashing runs on a pool of threads (the
compiled kernel releases the GIL), several pieces at once, while the pieces' results are
recorded in order on one more thread: both cores hash while the caller decodes and frames the
next rows, and the files are the same bytes however the texts were cut.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.dedup.index import SIGNATURE
from curate.dedup.minhash import band_keys_and_shingles, text_buffers
from curate.text.arrow import numpy_array

HEAD_BYTES = 600  # bytes of each unit's text kept for the report (400 characters of mostly-ASCII text)
JOB_BYTES = 8 << 20  # text hashed by one job: large enough that a job's fixed cost is noise
_SCRATCH = threading.local()  # per thread: the shingle buffers reused from part to part


def companion(sig_file: str | Path, what: str) -> Path:
    """A numpy file written next to a signature file: `bands`, `shingle_offsets`, `shingle_values`."""
    sig_file = Path(sig_file)
    return sig_file.with_name(f"{sig_file.stem}.{what}.npy")


def heads_path(sig_file: str | Path) -> Path:
    sig_file = Path(sig_file)
    return sig_file.with_name(f"{sig_file.stem}.heads.arrow")


class SignatureSink:
    """The files of one part's signature pass, fed a piece of texts at a time (`pipeline`).

    Band keys (8 bytes x bands per unit), exact hashes and sizes are held until `finish`;
    shingle values and heads go straight to their files."""

    def __init__(self, out: str, part: int, options: dict[str, Any]):
        self.out, self.part, self.options = out, part, options
        self.keep = bool(options.get("verify", True))
        self.threads = max(1, int(options.get("threads", 1)))
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        self.keys: list[np.ndarray] = []
        self.exact: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = [np.zeros(1, np.int64)]
        self.values = _Appender(companion(out, "shingle_values"), np.uint32) if self.keep else None
        self.heads_tmp = Path(str(heads_path(out)) + ".tmp")
        self.heads_sink = pa.OSFile(str(self.heads_tmp), "wb")
        self.heads = pa.ipc.new_file(self.heads_sink, pa.schema([("head", pa.large_binary())]))
        self.failure: BaseException | None = None

    @contextlib.contextmanager
    def pipeline(self) -> Iterator[Callable[[pa.Array | pa.ChunkedArray], None]]:
        """`submit(texts)`: hash texts on the pool and record them after the ones before.

        At most `threads + 2` jobs are unrecorded at once (each holds a scratch buffer, taken
        here in job order, so the oldest job never waits for one). A failure of any job is
        raised here, at the next submit or at the end; leaving early waits for the jobs."""
        free: queue.SimpleQueue = queue.SimpleQueue()
        slots = _SCRATCH.__dict__.setdefault("kept", [])
        slots.extend([] for _ in range(self.threads + 2 - len(slots)))
        for slot in slots:
            free.put(slot)
        from curate.background import Background

        recorder = Background(lambda job, slot: self._record(job, slot, free), depth=len(slots))
        hashers = ThreadPoolExecutor(self.threads, thread_name_prefix="curate-hash")

        def submit(texts: pa.Array | pa.ChunkedArray) -> None:
            for piece in _jobs(texts):
                self._raise()
                slot = free.get()
                recorder.submit(hashers.submit(self.hash, piece, slot), slot)

        try:
            yield submit
        except BaseException:
            self.failure = self.failure or _Cancelled()  # what is still queued is not recorded
            raise
        finally:
            recorder.close()
            hashers.shutdown(wait=True)
        self._raise()

    def hash(self, texts: pa.Array | pa.ChunkedArray, scratch: list[np.ndarray]) -> tuple:
        """Band keys, exact hashes, sizes, shingle values (into `scratch`) and heads of `texts`."""
        o = self.options
        keys, exact, counts, offsets, values = band_keys_and_shingles(
            texts, bands=o["bands"], rows=o["rows"], num_perm=o["num_perm"], ngram=o["ngram"], shingle=o["shingle"],
            seed=o["seed"], keep=self.keep, scratch=scratch, threads=1, join=False,
            hashing=o.get("hashing", "permutations"))
        heads = pc.binary_slice(texts.cast(pa.large_binary()), 0, HEAD_BYTES)
        return keys.T, exact, counts, text_lengths(texts), offsets, values, heads

    def _record(self, job: Future, slot: list[np.ndarray], free: queue.SimpleQueue) -> None:
        """Add one job's results to the files (in job order); never raises, so every buffer returns."""
        try:
            if self.failure is None:
                self.record(*job.result())
        except BaseException as error:  # noqa: BLE001 - raised by the submitting thread
            self.failure = error
        finally:
            free.put(slot)

    def record(self, keys, exact, counts, lengths, offsets, values, heads) -> None:
        self.keys.append(keys)  # band-major [bands, units]: no copy
        self.exact.append(exact)
        self.counts.append(counts)
        self.lengths.append(lengths)
        if self.keep:
            self.offsets.append(offsets[1:] + self.values.size)
            for piece in values if isinstance(values, list) else [values]:
                self.values.write(piece)  # now: the buffers are lent again for the next texts
        self.heads.write_table(pa.table({"head": heads}))

    def finish(self, units: pa.Table) -> dict[str, Any]:
        """Write the signature Parquet (`units`: key, rows, passes, source, one row per unit hashed)
        and the band keys; close the companions. Returns the part's counts."""
        out, bands = self.out, self.options["bands"]
        exact = _joined(self.exact, np.uint64)
        counts, lengths = _joined(self.counts, np.int64), _joined(self.lengths, np.int64)
        # numpy arrays enter Arrow by their buffers: pyarrow's conversion would import pandas.
        table = pa.table({"key": units["key"], "part": numpy_array(np.full(len(exact), self.part, np.int32)),
                          "exact": numpy_array(exact), "shingles": numpy_array(counts.astype(np.int32)),
                          "length": numpy_array(lengths.astype(np.int64)), "rows": units["rows"],
                          "passes": units["passes"], "source": units["source"]}).cast(SIGNATURE)
        keys = np.concatenate(self.keys, axis=1) if len(self.keys) > 1 else (
            self.keys[0] if self.keys else np.zeros((bands, 0), np.uint64))
        _save(companion(out, "bands"), np.ascontiguousarray(keys))
        if self.keep:
            _save(companion(out, "shingle_offsets"), np.concatenate(self.offsets))
            self.values.commit()
        self.heads.close()
        self.heads_sink.close()
        self.heads_tmp.replace(heads_path(out))
        pq.write_table(table, out + ".tmp", compression="zstd", compression_level=1)
        Path(out + ".tmp").replace(out)
        rows = pc.sum(units["rows"]).as_py() if units.num_rows else 0
        return {"out": out, "part": self.part, "units": units.num_rows, "rows": int(rows or 0),
                "empty": int((counts == 0).sum()), "bytes": int(lengths.sum())}

    def close(self) -> None:
        """Drop what an unfinished pass wrote (no-op after finish)."""
        if self.values is not None:
            self.values.abort()
        if not self.heads_sink.closed:
            with contextlib.suppress(Exception):
                self.heads.close()
            self.heads_sink.close()
        self.heads_tmp.unlink(missing_ok=True)

    def _raise(self) -> None:
        if self.failure is not None and not isinstance(self.failure, _Cancelled):
            raise self.failure


class _Cancelled(Exception):
    """The pipeline was left early: jobs still queued are not recorded."""


def _jobs(texts: pa.Array | pa.ChunkedArray) -> Iterator[pa.Array | pa.ChunkedArray]:
    """`texts` in runs of rows of about JOB_BYTES (row groups of 10k long texts: several jobs)."""
    rows, size = len(texts), max(1, texts.nbytes)
    step = max(1, -(-rows * JOB_BYTES // size))
    for start in range(0, max(rows, 1), step):
        yield texts.slice(start, step)


def _joined(pieces: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype)


class _Appender:
    """A 1-d .npy file written piece by piece (its length is known at the end), through a
    temporary name: `np.load` reads it like any other."""

    HEADER = 128  # bytes; the shape is filled in at the end, padded to this length

    def __init__(self, path: Path, dtype):
        self.path, self.dtype, self.size = path, np.dtype(dtype), 0
        self.tmp = path.with_name(path.name + ".tmp")
        self.file = open(self.tmp, "wb")
        self.file.write(b"\0" * self.HEADER)

    def write(self, values: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(values, self.dtype).data)
        self.size += len(values)

    def commit(self) -> None:
        header = repr({"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                       "shape": (self.size,)})
        prefix = b"\x93NUMPY\x01\x00"
        text = header.encode("latin1").ljust(self.HEADER - len(prefix) - 2 - 1) + b"\n"
        self.file.seek(0)
        self.file.write(prefix + len(text).to_bytes(2, "little") + text)
        self.file.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
            self.tmp.unlink(missing_ok=True)


def text_lengths(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Bytes of each text (0 for a null), chunk by chunk: no copy of the text into one array."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    parts = [np.diff(offsets) * valid for _, offsets, valid in map(text_buffers, chunks)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def remove_companions(sig_files: list[Path]) -> None:
    """Delete the large per-unit files beside the signature files once prepare is done with them.

    Shingles, heads and band keys together are about the size of the text itself; only the
    prepare phase reads them (a rerun of prepare writes them again).
    """
    for sig_file in sig_files:
        for path in (companion(sig_file, "bands"), companion(sig_file, "shingle_offsets"),
                     companion(sig_file, "shingle_values"), heads_path(sig_file)):
            path.unlink(missing_ok=True)


def drop_scratch() -> None:
    """Let go of this thread's shingle buffers (reused from part to part of the signature pass;
    about 4 bytes per shingle of a job's texts each, held otherwise until the process ends)."""
    _SCRATCH.__dict__.pop("kept", None)


def unit_heads(sig_file: str | Path, positions: list[int]) -> list[str]:
    """The kept beginnings of the texts of the units at `positions` in one signature file, each from
    its batch of the mapped file (a take on the column would copy the part's heads: 30 MB/50k)."""
    heads: list[bytes | None] = []
    with pa.memory_map(str(heads_path(sig_file))) as source:
        reader = pa.ipc.open_file(source)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]  # no copy
        starts = np.cumsum([0] + [b.num_rows for b in batches])
        for position in positions:
            batch = int(np.searchsorted(starts, position, side="right")) - 1
            heads.append(batches[batch].column(0)[position - int(starts[batch])].as_py())
    return [(head or b"").decode("utf-8", "ignore") for head in heads]


def _save(path: Path, array: np.ndarray | list[np.ndarray]) -> None:
    """np.save through a temporary name, so a crashed task leaves no half file under the real one.

    A list of 1-d arrays is saved as their concatenation, written piece by piece (no joined copy)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        if isinstance(array, list):
            dtype = array[0].dtype if array else np.dtype(np.uint32)
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (sum(len(a) for a in array),)}
            np.lib.format.write_array_header_1_0(f, header)
            for piece in array:
                f.write(np.ascontiguousarray(piece, dtype).data)
        else:
            np.save(f, array)
    tmp.replace(path)
