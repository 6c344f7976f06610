"""Part passes that copy unchanged columns' compressed chunks (`curate.part_columns`, issue 19).

Every test runs the same input twice, spliced and with CURATE_COLUMN_SPLICE=0 (decode and
re-encode everything, the path before), and compares what readers see: pyarrow, polars and
`datasets`, row for row, plus each stage's counters and rows. That the splice ran at all is
checked on the file: copied chunks keep the source's codec, fresh ones are zstd.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.part_columns import ENV
from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.schema import TRACE_SCHEMA, conform
from curate.storage.column_splice import ColumnSplicer, Template, copyable, encode_group, read_footer, top_fields

WORDS = [f"w{i}" for i in range(400)]
BENCH = "find the sum of all prime numbers below one hundred that leave remainder three when divided by four " * 2


def texts(n: int, seed: int = 0) -> list[str]:
    """Problem texts with exact and near duplicates, and a benchmark item copied into some."""
    rng = random.Random(seed)
    base = [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(n)]
    for i in range(0, n, 9):
        base[i] = base[max(0, i - 3)]  # exact duplicates of an earlier problem
    for i in range(4, n, 11):
        base[i] = base[i - 4] + " extra words"  # near duplicates
    for i in range(2, n, 13):
        base[i] = base[i] + " " + BENCH
    return base


def source_table(n: int, offset: int = 0, seed: int = 0) -> pa.Table:
    """A source with a renamed large_string problem, a REQUIRED column, lists, an int64 count
    (re-encoded as int32) and an unmapped column (into `extra`)."""
    problems = texts(n, seed)
    fields = [pa.field("uid", pa.string()), pa.field("question", pa.large_string()),
              pa.field("answer", pa.string(), nullable=False), pa.field("contaminated", pa.list_(pa.string())),
              pa.field("prompt_tokens", pa.int64()), pa.field("teacher", pa.string()), pa.field("note", pa.string())]
    return pa.table({
        "uid": [f"u{offset + i}" for i in range(n)],
        "question": problems,
        "answer": [f"answer {i % 5}" for i in range(n)],
        "contaminated": [["old:1"] if i % 7 == 0 else None for i in range(n)],
        "prompt_tokens": [i for i in range(n)],
        "teacher": [None if i % 3 else "t" for i in range(n)],
        "note": [f"n{i}" for i in range(n)],
    }, schema=pa.schema(fields))


OPTIONS = {
    "snappy": {"compression": "snappy"},
    "gzip-plain": {"compression": "gzip", "use_dictionary": False},
    "none-index-nostats": {"compression": "none", "write_page_index": True, "write_statistics": False},
}


def write_sources(folder: Path, options: dict, files: int = 2, rows: int = 60, group: int = 25) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        pq.write_table(source_table(rows, offset=k * rows, seed=k), folder / f"s{k}.parquet",
                       row_group_size=group, **options)
    return folder


def recipe_for(tmp_path: Path, sources: Path, stages: list[dict], rows_per_part: int = 70, **load) -> Path:
    import yaml

    bench = tmp_path / "B.jsonl"
    bench.write_text(json.dumps({"id": "1", "problem": BENCH.strip(), "answer": "x"}) + "\n")
    recipe = {"name": "splice", "seed": 3,
              "sources": [{"path": str(sources), "columns": {"problem": "question", "id": "uid"}}],
              "stages": [{"use": "load", "rows_per_part": rows_per_part, **load}] + stages}
    for stage in recipe["stages"]:
        if stage["use"] == "decontam":
            stage.setdefault("benchmarks", [str(bench)])
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run_both(tmp_path: Path, recipe: Path, monkeypatch) -> tuple[Path, Path, dict, dict]:
    """The run spliced, then the run with the splice turned off."""
    monkeypatch.delenv(ENV, raising=False)
    new = run_recipe(load_recipe(recipe), tmp_path / "new", progress=False)
    monkeypatch.setenv(ENV, "0")
    old = run_recipe(load_recipe(recipe), tmp_path / "old", progress=False)
    monkeypatch.delenv(ENV)
    return tmp_path / "new", tmp_path / "old", new, old


def assert_same_parts(new: Path, old: Path, stage: str) -> list[Path]:
    """Every part of `stage` reads back the same in pyarrow, polars and datasets; returns the parts."""
    import polars as pl
    from datasets import load_dataset

    parts = sorted((new / stage).glob("part-*.parquet"))
    assert parts and [p.name for p in parts] == [p.name for p in sorted((old / stage).glob("part-*.parquet"))]
    for part in parts:
        ours, theirs = pq.read_table(part), pq.read_table(old / stage / part.name)
        assert ours.schema == theirs.schema == TRACE_SCHEMA
        assert ours.equals(theirs), part.name
        assert pl.read_parquet(part).equals(pl.read_parquet(old / stage / part.name))
    files = [str(p) for p in parts]
    ours = load_dataset("parquet", data_files=files, split="train", cache_dir=str(new / "hf-cache"))
    theirs = load_dataset("parquet", data_files=[str(old / stage / p.name) for p in parts], split="train",
                          cache_dir=str(old / "hf-cache"))
    assert ours.to_list() == theirs.to_list()
    return parts


def codecs(path: Path) -> dict[str, set[str]]:
    meta = pq.ParquetFile(path).metadata
    out: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            column = meta.row_group(g).column(c)
            out.setdefault(column.path_in_schema.split(".")[0], set()).add(column.compression)
    return out


def same_stats(new: dict, old: dict) -> None:
    for key in ("rows_in", "rows_out", "rejected", "counters"):
        assert [s[key] for s in new["stages"].values()] == [s[key] for s in old["stages"].values()], key


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_dedup_and_decontam_splice_the_same_rows(tmp_path, monkeypatch, name):
    sources = write_sources(tmp_path / "src", OPTIONS[name])
    recipe = recipe_for(tmp_path, sources, [{"use": "dedup", "threshold": 0.7}, {"use": "decontam"}])
    new, old, new_manifest, old_manifest = run_both(tmp_path, recipe, monkeypatch)
    same_stats(new_manifest, old_manifest)
    assert new_manifest["stages"][1]["counters"]["marked_duplicate"] > 0
    assert new_manifest["stages"][2]["counters"]["rows_contaminated"] > 0
    for stage in ("01-dedup", "02-decontam"):
        parts = assert_same_parts(new, old, stage)
        used = codecs(parts[0])
        assert used["dup_of"] == {"ZSTD"}  # written fresh
    source_codec = {"snappy": "SNAPPY", "gzip-plain": "GZIP", "none-index-nostats": "UNCOMPRESSED"}[name]
    # part 0 holds rows 0-69: s0's three row groups whole (copied), then 10 of s1's first 25 (encoded)
    assert source_codec in codecs(new / "01-dedup" / "part-00000.parquet")["problem"]
    # decontam reads dedup's spliced parts: their row groups whole, the copies are copied again
    assert source_codec in codecs(new / "02-decontam" / "part-00000.parquet")["problem"]
    # the REQUIRED answer column is OPTIONAL in the trace schema: re-encoded, never copied raw
    assert codecs(new / "01-dedup" / "part-00000.parquet")["answer"] == {"ZSTD"}


def test_splice_copies_only_columns_of_the_same_parquet_type(tmp_path):
    template = Template(TRACE_SCHEMA, {"compression": "zstd", "compression_level": 1})
    path = tmp_path / "s.parquet"
    pq.write_table(source_table(10), path)
    fields = template.fields_of(path)
    names = {"problem": "question", "answer": "answer", "contaminated": "contaminated",
             "prompt_tokens": "prompt_tokens", "teacher": "teacher"}
    # large_string is a UTF-8 byte array like string; the int64 and the REQUIRED column are not
    assert template.copies(fields, names) == {"problem": "question", "contaminated": "contaminated",
                                              "teacher": "teacher"}
    assert not copyable(fields["question"], fields["contaminated"])


def test_spliced_file_of_copied_and_fresh_chunks_reads_back(tmp_path):
    """The core module alone: row groups of copied and fresh chunks, and a row group all fresh."""
    options = {"compression": "zstd", "compression_level": 1}
    template = Template(TRACE_SCHEMA, options)
    src = tmp_path / "s.parquet"
    table = source_table(30)
    pq.write_table(table, src, row_group_size=10, compression="snappy", write_page_index=True)
    expected = pa.table({"id": table["uid"], "problem": table["question"].cast(pa.string()),
                         "contaminated": table["contaminated"], "dup_of": [str(i) for i in range(30)]})
    from curate.schema import conform

    expected = conform(expected)
    copies = {"problem": "question", "contaminated": "contaminated"}
    fresh = [n for n in TRACE_SCHEMA.names if n not in copies]
    out = tmp_path / "out.parquet"
    with open(out, "wb") as f:
        splicer = ColumnSplicer(f, template)
        for g in range(2):
            piece = encode_group(expected.slice(10 * g, 10).select(fresh), tmp_path / f"f{g}.parquet", options)
            splicer.add_group(src, g, copies, piece)
        splicer.add_file(encode_group(expected.slice(20), tmp_path / "f2.parquet", options))
        splicer.finish()
    assert pq.read_table(out).equals(expected)
    with open(out, "rb") as f:
        meta = read_footer(f)
    assert list(top_fields(meta)) == TRACE_SCHEMA.names
    assert not list(tmp_path.glob("f*.parquet")), "fresh pieces are deleted once spliced"


def test_a_row_group_started_ahead_gives_the_same_bytes(tmp_path):
    """`start_group` copies a row group's leading chunks before its fresh columns exist; the file
    is byte for byte the one `add_group` alone writes, and a mismatched finish is refused."""
    options = {"compression": "zstd", "compression_level": 1}
    template = Template(TRACE_SCHEMA, options)
    src = tmp_path / "s.parquet"
    table = source_table(20)
    uid = pa.field("uid", pa.string(), nullable=False)  # as the trace schema's `id`: copyable
    table = table.set_column(0, uid, table["uid"].cast(pa.string()))
    pq.write_table(table, src, row_group_size=10)
    names = {"id": "uid", "problem": "question", "contaminated": "contaminated"}
    copies = template.copies(template.fields_of(src), names)
    assert len(copies) == 3
    fresh = [n for n in TRACE_SCHEMA.names if n not in copies]
    rows = conform(pa.table({"dup_of": [str(i) for i in range(20)]}))

    def write(out: Path, ahead: bool) -> bytes:
        with open(out, "wb") as f:
            splicer = ColumnSplicer(f, template)
            for g in range(2):
                if ahead:
                    splicer.start_group(src, g, copies)
                piece = encode_group(rows.slice(10 * g, 10).select(fresh), tmp_path / f"f{g}.parquet", options)
                splicer.add_group(src, g, copies, piece)
            splicer.finish()
        return out.read_bytes()

    assert write(tmp_path / "ahead.parquet", True) == write(tmp_path / "plain.parquet", False)
    assert pq.read_table(tmp_path / "ahead.parquet")["problem"].to_pylist() == table["question"].to_pylist()
    with open(tmp_path / "bad.parquet", "wb") as f:
        splicer = ColumnSplicer(f, template)
        splicer.start_group(src, 0, copies)
        piece = encode_group(rows.slice(10, 10).select(fresh), tmp_path / "f.parquet", options)
        splicer.add_group(src, 1, copies, piece)
        with pytest.raises(ValueError, match="was started and not finished"):
            splicer.finish()
        splicer.close()


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_dedup_and_decontam_match_the_old_path_and_resume(tmp_path, monkeypatch):
    src = tmp_path / "in.parquet"
    pq.write_table(source_table(90).rename_columns(["id", "problem", "answer", "contaminated", "prompt_tokens",
                                                    "teacher", "note"]), src, row_group_size=40)
    bench = tmp_path / "B.jsonl"
    bench.write_text(json.dumps({"id": "1", "problem": BENCH.strip(), "answer": "x"}) + "\n")
    for command, extra, column in (("dedup", ["--threshold", "0.7"], "dup_of"),
                                   ("decontam", ["--benchmarks", bench], "contaminated")):
        monkeypatch.setenv(ENV, "0")
        assert invoke(command, src, tmp_path / f"{command}-old", *extra).exit_code == 0
        monkeypatch.delenv(ENV)
        result = invoke(command, src, tmp_path / f"{command}-new", *extra)
        assert result.exit_code == 0, result.output
        stage = f"01-{command}"
        ours = pq.read_table(tmp_path / f"{command}-new" / stage / "part-00000.parquet")
        theirs = pq.read_table(tmp_path / f"{command}-old" / stage / "part-00000.parquet")
        assert ours.equals(theirs) and ours[column].null_count < ours.num_rows
        markers = [json.loads((tmp_path / f"{command}-{k}" / stage / "_done" / "part-00000.json").read_text())
                   for k in ("new", "old")]
        assert [{k: m[k] for k in ("rows_in", "rows_out", "rejected", "counters")} for m in markers] == \
            [{k: markers[1][k] for k in ("rows_in", "rows_out", "rejected", "counters")}] * 2
        assert "SNAPPY" in codecs(tmp_path / f"{command}-new" / stage / "part-00000.parquet")["problem"]
        # a rerun forcing the stage redoes its part with the splice, the same rows again
        out = tmp_path / f"{command}-new"
        assert invoke(command, src, out, *extra, "--force").exit_code == 0
        assert pq.read_table(out / stage / "part-00000.parquet").equals(theirs)
        status = invoke("status", out)
        assert status.exit_code == 0 and stage in status.output
        info = json.loads(invoke("inspect", out / stage, "--json").output)
        assert info["rows"] == 90 and info["schema"]["problem"] == "string"


def test_a_part_redone_after_prepare_is_spliced_again(tmp_path, monkeypatch):
    """A run interrupted after dedup's prepare (its part unmarked, its file gone) resumes."""
    sources = write_sources(tmp_path / "src", OPTIONS["snappy"])
    recipe = recipe_for(tmp_path, sources, [{"use": "dedup", "threshold": 0.7}])
    new, old, _, _ = run_both(tmp_path, recipe, monkeypatch)
    for marker in (new / "01-dedup" / "_done").glob("part-0000[13].json"):
        marker.unlink()
        (new / "01-dedup" / marker.name.replace(".json", ".parquet")).unlink()
    resumed = run_recipe(load_recipe(recipe), new, progress=False)
    assert resumed["stages"][1]["rows_out"] == 120
    assert_same_parts(new, old, "01-dedup")
    assert not list((new / "01-dedup").glob(".part-*")), "no temporary files left"


def test_a_kept_load_part_file_is_spliced_too(tmp_path, monkeypatch):
    """With keep_parts, load writes its parts: dedup copies from those files, not the sources."""
    sources = write_sources(tmp_path / "src", OPTIONS["gzip-plain"], files=1, rows=100, group=30)
    recipe = recipe_for(tmp_path, sources, [{"use": "dedup", "threshold": 0.7}], rows_per_part=45, keep_parts=True)
    new, old, new_manifest, old_manifest = run_both(tmp_path, recipe, monkeypatch)
    same_stats(new_manifest, old_manifest)
    assert (new / "00-load" / "part-00000.parquet").exists()
    parts = assert_same_parts(new, old, "01-dedup")
    assert codecs(parts[0])["problem"] == {"ZSTD"}
    assert pq.ParquetFile(parts[0]).metadata.num_row_groups == pq.ParquetFile(new / "00-load" / parts[0].name
                                                                              ).metadata.num_row_groups


def test_a_run_on_object_storage_splices_the_same_rows(s3, cache, tmp_path, monkeypatch):
    """A run directory at s3://: the part tasks splice in the working copy, the store gets the
    parts, and they read back as the local run without the splice."""
    import io as bytes_io

    from curate.storage import Store
    from tests.helpers.s3 import fresh_bucket

    sources = write_sources(tmp_path / "src", OPTIONS["snappy"])
    recipe = recipe_for(tmp_path, sources, [{"use": "dedup", "threshold": 0.7}, {"use": "decontam"}])
    url = f"s3://{fresh_bucket()}/splice"
    monkeypatch.delenv(ENV, raising=False)
    run_recipe(load_recipe(recipe), url, progress=False)
    monkeypatch.setenv(ENV, "0")
    run_recipe(load_recipe(recipe), tmp_path / "old", progress=False)
    store = Store(url)
    for stage in ("01-dedup", "02-decontam"):
        parts = sorted((tmp_path / "old" / stage).glob("part-*.parquet"))
        assert len(parts) == 2
        for part in parts:
            data = store.cat(f"{stage}/{part.name}")
            assert pq.read_table(bytes_io.BytesIO(data)).equals(pq.read_table(part)), (stage, part.name)
        spliced = pq.ParquetFile(bytes_io.BytesIO(store.cat(f"{stage}/part-00000.parquet"))).metadata
        assert "SNAPPY" in {spliced.row_group(0).column(c).compression for c in range(spliced.num_columns)}


def test_row_groups_too_large_to_copy_are_encoded_in_batches(tmp_path, monkeypatch):
    """A source row group above MAX_GROUP_BYTES would become one huge row group of the part:
    it is encoded the normal way instead (the same rows either way)."""
    import curate.part_columns as part_columns

    monkeypatch.setattr(part_columns, "MAX_GROUP_BYTES", 1)
    sources = write_sources(tmp_path / "src", OPTIONS["snappy"], files=1)
    recipe = recipe_for(tmp_path, sources, [{"use": "dedup", "threshold": 0.7}])
    new, old, _, _ = run_both(tmp_path, recipe, monkeypatch)
    parts = assert_same_parts(new, old, "01-dedup")
    assert codecs(parts[0])["problem"] == {"ZSTD"}


def test_statistics_of_another_writer_are_not_copied(tmp_path):
    """The output's footer names Arrow's writer: a chunk another writer made keeps no statistics
    (readers judge statistics by that name), one of Arrow's keeps them."""
    import polars as pl

    options = {"compression": "zstd", "compression_level": 1}
    template = Template(TRACE_SCHEMA, options)
    table = source_table(20)
    arrow_file, polars_file = tmp_path / "a.parquet", tmp_path / "p.parquet"
    pq.write_table(table.select(["question"]), arrow_file)
    pl.from_arrow(table.select(["question"])).write_parquet(polars_file, statistics=True)
    from curate.schema import conform

    fresh_columns = [n for n in TRACE_SCHEMA.names if n != "problem"]
    expected = conform(pa.table({"id": table["uid"], "problem": table["question"].cast(pa.string())}))
    for source, kept in ((arrow_file, True), (polars_file, False)):
        fields = template.fields_of(source)
        copies = template.copies(fields, {"problem": "question"})
        assert copies == {"problem": "question"}  # polars writes the same schema elements for a string
        out = tmp_path / f"out-{source.stem}.parquet"
        with open(out, "wb") as f:
            splicer = ColumnSplicer(f, template)
            splicer.add_group(source, 0, copies, encode_group(expected.select(fresh_columns), tmp_path / "f.parquet",
                                                              options))
            splicer.finish()
        assert pq.read_table(out).equals(expected)
        column = pq.ParquetFile(out).metadata.row_group(0).column(TRACE_SCHEMA.names.index("problem"))
        assert column.is_stats_set is kept


@pytest.mark.parametrize("stage", [{"use": "dedup", "threshold": 0.7}, {"use": "decontam"}])
def test_batches_left_unaligned_when_every_row_group_is_copied_write_the_same_bytes(tmp_path, monkeypatch, stage):
    """Every row group copied: only fresh columns are encoded (combined first), so the part pass
    no longer copies the 1024-row units that straddle row groups of 700 (`rebatched(align=False)`);
    the part files are the bytes the aligned batches give."""
    from curate.part_columns import ColumnPlan

    sources = write_sources(tmp_path / "src", {"compression": "snappy"}, files=1, rows=3000, group=700)
    recipe = recipe_for(tmp_path, sources, [stage], rows_per_part=10_000)
    asked = []
    encodes = ColumnPlan.encodes_batches
    monkeypatch.setattr(ColumnPlan, "encodes_batches", lambda self: asked.append(encodes(self)) or asked[-1])
    run_recipe(load_recipe(recipe), tmp_path / "unaligned", progress=False)
    monkeypatch.setattr(ColumnPlan, "encodes_batches", lambda self: True)
    run_recipe(load_recipe(recipe), tmp_path / "aligned", progress=False)
    assert asked == [False]
    name = f"01-{stage['use']}"
    parts = sorted((tmp_path / "unaligned" / name).glob("part-*.parquet"))
    assert parts and all(p.read_bytes() == (tmp_path / "aligned" / name / p.name).read_bytes() for p in parts)
    assert_same_parts(tmp_path / "unaligned", tmp_path / "aligned", name)


def test_decontam_scans_a_column_edit_in_small_batches_with_the_same_results(tmp_path, monkeypatch):
    """decontam's part pass under a column plan takes batches of one scan (SCAN_ROWS rows, less
    text in flight): the part files, the hit records and the report are those of 8192-row batches."""
    import curate.part_task as part_task
    from curate.stages.base import ColumnEdit
    from curate.stages.decontam import SCAN_ROWS, Decontam

    sources = write_sources(tmp_path / "src", {"compression": "snappy"}, files=1, rows=5000, group=700)
    recipe = recipe_for(tmp_path, sources, [{"use": "decontam", "max_report_hits": 100}], rows_per_part=10_000)
    sizes = []
    rebatched = part_task.rebatched
    monkeypatch.setattr(part_task, "rebatched",
                        lambda tables, rows, **kw: sizes.append(rows) or rebatched(tables, rows, **kw))
    run_recipe(load_recipe(recipe), tmp_path / "small", progress=False)
    edit = Decontam.column_edit
    monkeypatch.setattr(Decontam, "column_edit", lambda self: ColumnEdit(edit(self).reads, edit(self).writes))
    run_recipe(load_recipe(recipe), tmp_path / "large", progress=False)
    assert sizes == [SCAN_ROWS, part_task.READ_BATCH_ROWS]
    part = tmp_path / "small" / "01-decontam" / "part-00000.parquet"
    assert part.read_bytes() == (tmp_path / "large" / "01-decontam" / part.name).read_bytes()
    markers = [json.loads((tmp_path / run / "01-decontam" / "_done" / "part-00000.json").read_text())
               for run in ("small", "large")]
    for marker in markers:
        marker.pop("seconds", None)
    assert markers[0] == markers[1]
    assert markers[0]["stats"]["hits_not_listed"] > 0  # the list limit was reached: the merge kept its order
    reports = [json.loads((tmp_path / run / "reports" / "decontam.json").read_text()) for run in ("small", "large")]
    assert reports[0] == reports[1]
