"""Contamination of the evaluation by training data: which eval items the training set contains.

The eval items' problems are indexed with the decontamination index (`curate.decontam.index`:
hashed word n-grams, an exact path for items shorter than n) and the training rows' `problem`,
`reasoning` and `answer` text is scanned with `curate.decontam.match.scan_texts`, the same matcher
(and the same changed-number veto) the decontam stage uses. Any hit marks the item contaminated;
the result lists, per item, the training fields that matched. The training set is a run folder
(its published dataset/ if present, else its last stage's parts) or a Parquet/JSONL file.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curate.errors import InputError
from curate.storage.parquet_files import read_parquet

FIELDS = ("problem", "reasoning", "answer")
BATCH = 65_536


def training_files(path: str) -> list[Path]:
    from curate import io
    from curate.rundir import RunDir

    p = Path(path)
    if RunDir.is_run(p):
        dataset = RunDir(p).dataset
        published = sorted(dataset.rglob("*.parquet")) if dataset.exists() else []
        return published or io.run_output_files(str(p))
    if p.is_dir():
        return sorted(p.rglob("*.parquet")) + sorted(p.rglob("*.jsonl"))
    if p.exists():
        return [p]
    raise InputError(f"--train {path}: no such run, folder or file", "Give a run folder or a Parquet/JSONL file.")


def read_texts(path: Path) -> pa.Table:
    """The text columns of one training file that exist (others are skipped)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        return read_parquet(path, columns=[f for f in FIELDS if f in names])
    import json

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pa.table({f: pa.array([r.get(f) for r in rows], pa.string()) for f in FIELDS
                     if any(f in r for r in rows)})


def contaminated_items(problems: dict[str, str], train: str, *, n: int = 13) -> dict[str, list[str]]:
    """Eval item id -> the training fields that contain it (only contaminated items are listed)."""
    from curate.decontam.index_build import build_index
    from curate.decontam.match import scan_texts
    from curate.decontam.select import BenchItem

    ids = sorted(problems)
    index = build_index([BenchItem("eval", i, problems[i]) for i in ids], [], [n])
    found: dict[str, set[str]] = {}
    for file in training_files(train):
        table = read_texts(file)
        for field in table.column_names:
            column = table.column(field).combine_chunks()
            for start in range(0, len(column), BATCH):
                for hit in scan_texts(index, column.slice(start, BATCH), n, near=False):
                    found.setdefault(ids[hit.item], set()).add(field)
    return {item: sorted(fields) for item, fields in sorted(found.items())}
