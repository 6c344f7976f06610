"""The integer unit index of dedup (curate.dedup.index, in Arrow) against a plain polars unit table."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.dedup import cluster as dc
from curate.dedup.index import COLUMNS, build_index, member_frames
from curate.dedup.synth import planted_corpus
from curate.dedup.units import signature_task
from curate.schema import conform
from curate.stages.dedup import Dedup


def _rows(texts: list[str], ids: list[str], source: str | None, samples: int = 1) -> list[dict]:
    return [{"id": i, "sample_idx": s, "trace_id": f"{i}-{s}", "source": source, "domain": "math",
             "problem": t, "reasoning": f"r {i} {s}", "answer": "1", "verdict": "pass" if s == 1 else None}
            for i, t in zip(ids, texts) for s in range(samples)]


@pytest.fixture(scope="module")
def signatures(tmp_path_factory):
    """Signature files of 3 parts (one problem split across two of them, exact and near
    duplicates, an empty text, sources a/b/none) and of an earlier release."""
    tmp = tmp_path_factory.mktemp("sig")
    texts = list(planted_corpus(90, words=60, planted=0.3, low=0.7, high=1.0, seed=5).texts)
    texts[4] = texts[2].upper()
    texts[7] = ""
    ids = [f"q{(i * 37) % 90:03d}" for i in range(90)]  # keys not in file order
    parts = [_rows(texts[:30], ids[:30], "b", 2), _rows(texts[30:60], ids[30:60], None, 2),
             _rows(texts[60:], ids[60:], "a", 2) + _rows([texts[10]], [ids[10]], "c")]
    parts.append(_rows(texts[::9], [f"old{i}" for i in range(10)], "old"))
    options = {**Dedup({}).options(), "verify": True}
    files = []
    for i, rows in enumerate(parts):
        path = tmp / f"in-{i}.parquet"
        pq.write_table(conform(pa.Table.from_pylist(rows)), path)
        kind = "against-00000" if i == 3 else f"part-{i:05d}"
        signature_task(str(path), str(tmp / "sig" / f"{kind}.parquet"), 0 if i == 3 else i, options)
        files.append(tmp / "sig" / f"{kind}.parquet")
    return files, [False, False, False, True]


def _reference_units(files, prior) -> pl.DataFrame:
    """Every unit as one polars row, straight from the rule: prior first, then key; attributes
    aggregated over a unit's occurrences (first file for part and pos)."""
    occ = pl.concat([pl.read_parquet(f).with_row_index("pos").with_columns(pl.lit(p).alias("prior"))
                     for f, p in zip(files, prior)]).with_columns(pl.col("rows", "passes").fill_null(0))
    units = occ.sort(["prior", "key", "part"], descending=[True, False, False]).group_by(
        ["prior", "key"], maintain_order=True).agg(
        pl.col("exact").min(), pl.col("shingles").max(), pl.col("length").min(), pl.col("rows").sum(),
        pl.col("passes").sum(), pl.col("source").min(), pl.col("pos").first(), pl.col("part").first())
    return units.with_row_index("uidx").select(COLUMNS)


def test_index_keeps_only_numeric_arrays_per_unit(signatures):
    index = build_index(*signatures)
    for field in dataclasses.fields(index):
        value = getattr(index, field.name)
        if isinstance(value, np.ndarray):
            assert value.dtype.kind in "biu", field.name  # no strings, no objects
        else:
            assert field.name in ("sig_files", "prior", "seen") or isinstance(value, int | bool | type(None))
    assert index.uidx.dtype == np.uint32 and index.uidx.nbytes == 4 * index.starts[-1]
    assert index.seen.num_rows <= 4  # one row a source, not a unit


def test_index_and_member_rows_match_the_plain_unit_table(signatures):
    index = build_index(*signatures)
    reference = _reference_units(*signatures)
    assert index.shared and index.units == reference.height and index.prior_units == 10
    assert (index.exact == reference["exact"].to_numpy()).all()
    assert (index.usable == (reference["shingles"].to_numpy() > 0)).all()
    everyone = np.arange(index.units)
    _, table = member_frames(index, everyone)
    units = pl.from_arrow(table)
    assert units.equals(reference.cast(units.schema))
    assert units.schema["uidx"] == pl.UInt32
    some = everyone[::3]
    occ, chosen = member_frames(index, some)
    assert pl.from_arrow(chosen).equals(units[some]) and set(occ["uidx"].to_pylist()) == set(some.tolist())


def test_keepers_on_members_match_keepers_over_all_units(signatures):
    """Choosing per cluster among the members gives the keepers a choice over every unit would."""
    index = build_index(*signatures)
    ex_left, ex_right, lone = dc.exact_edges(index.exact, index.usable)
    near = dc.band_edges(index, lone, Dedup({}).lsh_shape()[0])
    root = dc.clusters(index.units, [(ex_left, ex_right), near])
    chosen = dc.cluster_members(root)
    assert 0 < len(chosen) < index.units
    _, everyone = member_frames(index, np.arange(index.units))
    _, members = member_frames(index, chosen)
    for keep in (["verified", "shortest"], ["longest"]):
        full = dc.choose_keepers(everyone, root, keep)
        assert (dc.choose_keepers(members, root[chosen], keep) == full[chosen]).all()
    decided = dc.decide(members, root[chosen], dc.choose_keepers(members, root[chosen], ["shortest"]))
    assert min(decided["size"].to_pylist()) >= 2 and sum(decided["keeper"].to_pylist()) == len(np.unique(root[chosen]))
    assert {c.num_chunks for c in decided.columns} == {1}  # clusters.parquet: the same on any machine
