"""A column-edit part copied while its stage's prepare still runs (issue 19, twelfth round).

Dedup's prepare ends on one core (index, clusters, report); the first part's unchanged columns
are copied meanwhile (`PrepareContext.start_parts`), each row group at a place fixed in advance
that leaves its fresh columns room (`ColumnEdit.room_per_row`). The file must be the one the
part task writes when nothing started early, and hold the rows of the path that re-encodes
everything; fresh columns that outgrow their room move the row groups after them.
"""

from __future__ import annotations

import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate.part_columns as part_columns
import curate.runner as runner
import curate.stages.dedup as dedup_stage
from curate.part_columns import ENV, start_early
from curate.schema import TRACE_SCHEMA, conform
from curate.storage.column_splice import ColumnSplicer, Template, encode_group
from tests.test_column_splice import invoke, source_table

PART = "01-dedup/part-00000.parquet"


def group_spans(path) -> list[tuple[int, int]]:
    """(first byte, bytes) of each row group, from the footer's chunk offsets."""
    meta = pq.ParquetFile(path).metadata
    spans = []
    for g in range(meta.num_row_groups):
        chunks = [meta.row_group(g).column(c) for c in range(meta.num_columns)]
        start = min(min(c.data_page_offset, c.dictionary_page_offset or c.data_page_offset) for c in chunks)
        spans.append((start, sum(c.total_compressed_size for c in chunks)))
    return spans


def write_input(tmp_path, rows: int = 120, group: int = 40):
    """Duplicates as in test_column_splice, each problem ending in a word of 1 KB of random
    hex (one shingle more, but bytes no codec shrinks: what the room is measured against)."""
    rng = random.Random(1)
    table = source_table(rows).rename_columns(["id", "problem", "answer", "contaminated", "prompt_tokens",
                                               "teacher", "note"])
    tails = ["".join(rng.choice("0123456789abcdef") for _ in range(1024)) for _ in range(rows)]
    problems = [f"{p} {t}" for p, t in zip(table["problem"].to_pylist(), tails)]
    src = tmp_path / "in.parquet"
    pq.write_table(table.set_column(1, "problem", pa.array(problems, pa.large_string())), src, row_group_size=group)
    return src


def padded(monkeypatch, room_per_row: int = 32, base: int = 16 << 10) -> None:
    """Room small enough for this test's short rows (the defaults pad only long ones)."""
    monkeypatch.setattr(part_columns, "ROOM_BASE", base)
    monkeypatch.setattr(part_columns, "ROOM_SHARE", 1)
    monkeypatch.setattr(dedup_stage, "ROOM_PER_ROW", room_per_row)


def test_row_groups_copied_ahead_sit_at_their_places_or_move(tmp_path):
    """`start_group(at=)` places row groups ahead with gaps; one whose place the fresh columns
    before it took is copied again after them. Readers see the same rows either way."""
    options = {"compression": "zstd", "compression_level": 1}
    template = Template(TRACE_SCHEMA, options)
    src = tmp_path / "s.parquet"
    table = source_table(30)
    pq.write_table(table.set_column(0, pa.field("uid", pa.string(), nullable=False), table["uid"]), src,
                   row_group_size=10)
    copies = template.copies(template.fields_of(src), {"id": "uid", "problem": "question"})
    fresh = [n for n in TRACE_SCHEMA.names if n not in copies]
    rows = conform(pa.table({"dup_of": [f"kept-{i}" * 20 for i in range(30)]}))

    def write(out, room: int) -> list[int]:
        with open(out, "wb") as f:
            splicer = ColumnSplicer(f, template)
            places, at = [], 4
            for g in range(3):
                places.append(at)
                at = splicer.start_group(src, g, copies, at) + room
            for g in range(3):
                piece = encode_group(rows.slice(10 * g, 10).select(fresh), tmp_path / f"f{g}.parquet", options)
                splicer.add_group(src, g, copies, piece)
            splicer.finish()
        return places

    expected = pq.read_table(src)["question"].to_pylist()
    for room, moved in ((4096, False), (8, True)):
        out = tmp_path / f"room-{room}.parquet"
        places = write(out, room)
        spans = group_spans(out)
        assert ([s for s, _ in spans] != places) == moved
        assert all(a + n <= b for (a, n), (b, _) in zip(spans, spans[1:])), "row groups never overlap"
        assert pq.read_table(out)["problem"].to_pylist() == expected
        assert pl.read_parquet(out)["dup_of"].to_list() == rows["dup_of"].to_pylist()


def test_dedup_copies_its_part_during_prepare(tmp_path, monkeypatch):
    """The early copy gives the file the part task alone writes, with room between row groups,
    and the rows of the re-encoding path; the writer is taken over, nothing is left behind."""
    src = write_input(tmp_path)
    padded(monkeypatch)
    started = []
    monkeypatch.setattr(runner, "start_early", lambda *a: (started.append(a[2:]), start_early(*a)))
    assert invoke("dedup", src, tmp_path / "early", "--threshold", "0.7").exit_code == 0
    assert started == [(1, 0)] and not part_columns._EARLY
    monkeypatch.setattr(runner, "start_first_part", lambda *a: None)
    assert invoke("dedup", src, tmp_path / "late", "--threshold", "0.7").exit_code == 0
    monkeypatch.setenv(ENV, "0")
    assert invoke("dedup", src, tmp_path / "plain", "--threshold", "0.7").exit_code == 0
    early = (tmp_path / "early" / PART).read_bytes()
    assert early == (tmp_path / "late" / PART).read_bytes()
    spans = group_spans(tmp_path / "early" / PART)
    assert len(spans) == 3 and all(a + n < b for (a, n), (b, _) in zip(spans, spans[1:])), "room left"
    ours, theirs = pq.read_table(tmp_path / "early" / PART), pq.read_table(tmp_path / "plain" / PART)
    assert ours.equals(theirs) and ours["dup_of"].null_count < ours.num_rows
    assert not list((tmp_path / "early" / "01-dedup").glob(".part-*")), "no temporary files left"


def test_fresh_columns_that_outgrow_their_room_move_the_rest(tmp_path, monkeypatch):
    """Room for nothing: every row group after the first is copied again; the rows hold."""
    src = write_input(tmp_path)
    padded(monkeypatch, room_per_row=1, base=0)
    assert invoke("dedup", src, tmp_path / "tight", "--threshold", "0.7").exit_code == 0
    monkeypatch.setenv(ENV, "0")
    assert invoke("dedup", src, tmp_path / "plain", "--threshold", "0.7").exit_code == 0
    spans = group_spans(tmp_path / "tight" / PART)
    assert all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:])), "moved up against each other"
    assert pq.read_table(tmp_path / "tight" / PART).equals(pq.read_table(tmp_path / "plain" / PART))


def test_an_early_copy_no_task_takes_is_dropped(tmp_path, monkeypatch):
    """Prepare fails after the copy started: the copy stops and its temporary file goes."""
    src = write_input(tmp_path)
    padded(monkeypatch)

    def broken(self, *args):
        assert part_columns._EARLY, "the copy started before the clusters"
        raise RuntimeError("clusters failed")

    monkeypatch.setattr(dedup_stage.Dedup, "cluster", broken)
    with pytest.raises(RuntimeError, match="clusters failed"):
        invoke("dedup", src, tmp_path / "run", "--threshold", "0.7")
    assert not part_columns._EARLY
    assert not list((tmp_path / "run" / "01-dedup").glob(".part-*")), "no temporary files left"
