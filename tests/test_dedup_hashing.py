"""dedup's MinHash scheme: one permutation hashing for long texts, permutations for short ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_dedup import _dup_indices, problem_rows, run_dedup

from curate.cli import cli
from curate.dedup import hashing, native
from curate.dedup.minhash import permutations, text_buffers
from curate.dedup.synth import planted_corpus, score
from curate.stages.dedup import mean_text_bytes


def _write(path: Path, texts: list[str]) -> Path:
    pq.write_table(pa.table({"id": [f"p{i:04d}" for i in range(len(texts))], "problem": texts}), path)
    return path


def _dedup(tmp_path: Path, source: Path, *flags: str) -> tuple[dict, str]:
    out = tmp_path / f"run-{source.stem}-{len(flags)}"
    result = CliRunner().invoke(cli, ["dedup", str(source), str(out), *flags], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "01-dedup" / "artifacts" / "stats.json").read_text())
    return stats, (out / "reports" / "dedup.md").read_text()


def test_auto_hashes_long_texts_by_one_permutation_and_short_ones_by_permutations(tmp_path):
    """A command over load's view (no part written) reads the source's footer for the choice."""
    long = planted_corpus(60, words=400, seed=1).texts  # about 2.6 KB a text
    short = planted_corpus(60, words=40, seed=1).texts
    stats, report = _dedup(tmp_path, _write(tmp_path / "long.parquet", long))
    assert stats["hashing"] == "one-permutation"
    assert "128 bins of one permutation as" in report
    stats, report = _dedup(tmp_path, _write(tmp_path / "short.parquet", short))
    assert stats["hashing"] == "permutations"
    assert "128 permutations as" in report
    stats, _ = _dedup(tmp_path, tmp_path / "short.parquet", "--hashing", "one-permutation")
    assert stats["hashing"] == "one-permutation"


def test_mean_text_bytes_reads_the_footers_of_written_parts(tmp_path):
    texts = [f"{i} " + "x" * n for i, n in enumerate([100, 300, 2000, 0] * 200)]
    path = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"problem": texts}), path, row_group_size=300)
    mean = np.mean([len(t) for t in texts])
    assert mean_text_bytes([str(path)], "problem") == pytest.approx(mean, rel=0.05)
    assert mean_text_bytes([str(path)], "answer") is None  # a column the part lacks: no guess
    assert mean_text_bytes([str(tmp_path / "nowhere" / "part-00000.parquet")], "problem") is None
    assert hashing.choose("auto", None, "word") == "permutations"
    assert hashing.choose("auto", mean, "char") == "one-permutation"  # 600 shingles
    assert hashing.choose("auto", mean, "word") == "permutations"  # 100 shingles
    assert hashing.choose("permutations", mean, "char") == "permutations"


def test_one_permutation_finds_planted_duplicates_across_parts(tmp_path):
    corpus = planted_corpus(600, words=60, planted=0.25, low=0.5, high=1.0, seed=7)
    out, stats = run_dedup(tmp_path, problem_rows(corpus.texts), parts=3, hashing="one-permutation")
    result = score(corpus, _dup_indices(out, 600), 0.8)
    assert stats["hashing"] == "one-permutation" and result["true_pairs"] > 50
    assert result["recall"] >= 0.98 and result["precision"] == 1.0


def test_the_densification_order_is_a_fixed_permutation_of_the_bins_per_bin():
    order = hashing.densify_order(128, 1)
    assert order.shape == (128, 128) and order.dtype == np.uint16
    assert (np.sort(order, axis=1) == np.arange(128)).all()
    assert (order == hashing.densify_order(128, 1)).all() and not (order == hashing.densify_order(128, 2)).all()
    assert hashing.order_for("permutations", 128, 1).size == 0
    with pytest.raises(ValueError, match="unknown MinHash scheme"):
        hashing.order_for("auto", 128, 1)


def test_the_c_kernel_refuses_an_order_of_the_wrong_shape():
    data, offsets, valid = text_buffers(pa.array(["a b c d e f"]))
    a, b = permutations(16, 1)
    with pytest.raises(ValueError, match="perms x perms"):
        native.minhash_kernel(data, offsets, valid, 2, False, a, b, np.zeros((8, 8), np.uint16), False, 2, 8,
                              np.ones(1024, np.uint64), np.empty(0, np.uint32))


def test_an_earlier_release_is_hashed_by_the_runs_scheme(tmp_path):
    """Long texts: `auto` picks one permutation, and the release's texts get the same bins, so
    near-copies of its rows (J 0.85-0.95, not exact) are found across the two."""
    corpus = planted_corpus(40, words=400, planted=0.5, low=0.85, high=0.95, seed=5)
    one_copy = dict(zip(corpus.pairs[:, 0].tolist(), corpus.pairs[:, 1].tolist()))  # an original, its last copy
    originals, copies = list(one_copy), list(one_copy.values())
    release = tmp_path / "release" / "train-00000-of-00001.parquet"
    release.parent.mkdir()
    pq.write_table(pa.table({"id": [f"p{i:04d}" for i in originals],
                             "problem": [corpus.texts[i] for i in originals]}), release)
    rows = [{**row, "id": f"n{i:04d}"} for i, row in zip(copies, problem_rows([corpus.texts[i] for i in copies]))]
    out, stats = run_dedup(tmp_path / "run", rows, against=str(release.parent))
    assert stats["hashing"] == "one-permutation" and stats["against_units"] == len(originals)
    got = dict(zip(out["id"].to_pylist(), out["dup_of"].to_pylist()))
    assert got == {f"n{copy:04d}": f"p{original:04d}" for original, copy in zip(originals, copies)}
