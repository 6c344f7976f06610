"""Benchmark: curate's dedup stage vs datasketch used as its README shows.

One run, one synthetic corpus with planted near-duplicates at measured Jaccard similarities
(`curate.dedup.synth`), word 5-gram shingles, 128 permutations, threshold 0.8:

- baseline: datasketch `MinHash` + one `update` per shingle + `MinHashLSH` (insert, query);
  a text is marked as a duplicate of the first earlier text the index returns.
- curate: the `dedup` stage end to end through the runner (prepare: signatures, LSH grouping,
  exact Jaccard check, clustering, decisions, report; then the run over every part), timed
  from the manifest, one worker.

Each system runs in its own fresh process (peak RSS is per process). Reported: docs/s, MB/s
(bytes of the deduplicated field), CPU MB/s (per core-second), peak RSS, recall at J >= 0.8,
precision, and the speed ratio; then curate alone on a larger corpus (throughput) and at two
row counts (memory per row, to show memory is flat in rows).

The `load` stage runs first in the parent; each curate measurement is a fresh process that
resumes the run and computes only `dedup` (CPU time and peak RSS are the stage's own, with
the interpreter's imports).

    python tests/benchmarks/bench_dedup.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THRESHOLD = 0.8


def corpus_file(folder: Path, docs: int, words: int, seed: int) -> Path:
    """Write a planted corpus as Parquet rows (one problem per doc) plus its labels."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.dedup.synth import planted_corpus

    corpus = planted_corpus(docs, words=words, planted=0.2, low=0.5, high=1.0, seed=seed)
    path = folder / f"corpus-{docs}-{words}.parquet"
    ids = [f"p{i:08d}" for i in range(docs)]
    pq.write_table(pa.table({"id": ids, "problem": corpus.texts, "sample_idx": [0] * docs}), path,
                   row_group_size=50_000)
    np.savez(path.with_suffix(".npz"), pairs=corpus.pairs, similarity=corpus.similarity)
    return path


def load_corpus(path: Path):
    import pyarrow.parquet as pq

    from curate.dedup.synth import Corpus

    labels = np.load(path.with_suffix(".npz"))
    texts = pq.read_table(path, columns=["problem"])["problem"].to_pylist()
    return Corpus(texts, labels["pairs"], labels["similarity"])


# ---------------------------------------------------------------- the two systems (child side)


def run_datasketch(path: Path) -> dict:
    from datasketch import MinHash, MinHashLSH

    from curate.text.words import words

    corpus = load_corpus(path)
    started, cpu = time.perf_counter(), time.process_time()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=128)
    dup_of: list[int | None] = []
    for i, text in enumerate(corpus.texts):
        w = words(text)
        m = MinHash(num_perm=128)
        for j in range(max(len(w) - 4, 1)):
            m.update(" ".join(w[j:j + 5]).encode("utf8"))
        found = lsh.query(m)
        dup_of.append(min(found) if found else None)
        if not found:
            lsh.insert(i, m)
    return _result(corpus, dup_of, time.perf_counter() - started, time.process_time() - cpu)


def curate_recipe(path: Path, rows_per_part: int, *, with_dedup: bool = True):
    from curate.recipe import validate_recipe

    stages = [{"use": "load", "rows_per_part": rows_per_part}] + ([{"use": "dedup"}] if with_dedup else [])
    # the corpus ids are the benchmark's labels (p00000012): keep them unscoped
    source = {"path": str(path), "domain": "x", "id_scope": "global"}
    return validate_recipe({"name": "bench", "seed": 1, "sources": [source], "stages": stages}, filename="bench")


def run_curate(path: Path, run_dir: Path) -> dict:
    """The dedup stage alone: the parent already ran `load` into run_dir, so it resumes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.runner import run_recipe

    rows_per_part = json.loads((run_dir / "bench.json").read_text())["rows_per_part"]
    cpu = time.process_time()
    manifest = run_recipe(curate_recipe(path, rows_per_part), run_dir, workers=1, progress=False)
    cpu = time.process_time() - cpu
    peak = peak_rss_mb()  # before the labels load
    stage = manifest["stages"][1]
    parts = sorted(run_dir.glob("01-dedup/part-*.parquet"))
    out = pa.concat_tables(pq.read_table(f, columns=["id", "dup_of"]) for f in parts)
    corpus = load_corpus(path)
    by_id = dict(zip(out["id"].to_pylist(), out["dup_of"].to_pylist()))
    dup_of = [None if by_id[f"p{i:08d}"] is None else int(by_id[f"p{i:08d}"][1:]) for i in range(len(by_id))]
    result = _result(corpus, dup_of, stage["wall_seconds"], cpu, nbytes=stage["prepare_stats"]["bytes"])
    result["peak_rss_mb"] = peak
    result["bands_x_rows"] = f"{stage['prepare_stats']['bands']}x{stage['prepare_stats']['rows']}"
    return result


def loaded_run(path: Path, rows_per_part: int) -> Path:
    """A run directory holding only the `load` stage of the corpus (made in this process)."""
    from curate.runner import run_recipe

    run_dir = path.parent / f"run-{path.stem}"
    run_recipe(curate_recipe(path, rows_per_part, with_dedup=False), run_dir, workers=1, progress=False)
    (run_dir / "bench.json").write_text(json.dumps({"rows_per_part": rows_per_part}))
    return run_dir


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it restarts at exec)."""
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmHWM:"):
            return int(text.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _result(corpus, dup_of, seconds: float, cpu: float, nbytes: int | None = None) -> dict:
    from curate.dedup.synth import score

    nbytes = nbytes if nbytes is not None else corpus.bytes
    result = {"docs": len(dup_of), "mb": nbytes / 1e6, "seconds": seconds, "cpu_seconds": cpu,
              "peak_rss_mb": peak_rss_mb()}
    if corpus is not None:
        result.update(score(corpus, dup_of, THRESHOLD))
    return result


def child(system: str, path: Path, rows_per_part: int = 0) -> dict:
    """Run one system in a fresh interpreter and return its JSON result."""
    run_dir = ""
    if system == "curate":
        import shutil

        run_dir = str(loaded_run(path, rows_per_part))
        shutil.rmtree(Path(run_dir) / "01-dedup", ignore_errors=True)
    out = subprocess.run([sys.executable, __file__, "--child", system, str(path), run_dir or "-"],
                         check=False, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{system} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report (parent side)


def line(name: str, r: dict) -> str:
    quality = (f"recall@J>={THRESHOLD} {r['recall']:.4f}  precision {r['precision']:.4f}"
               if "recall" in r else "")
    return (f"  {name:<11} {r['docs'] / r['seconds']:>10.0f} docs/s  {r['mb'] / r['seconds']:>7.1f} MB/s  "
            f"{r['mb'] / max(r['cpu_seconds'], 1e-9):>7.1f} MB/s per CPU-s  peak RSS {r['peak_rss_mb']:>6.0f} MB  "
            f"{quality}")


def median_run(system: str, path: Path, rows_per_part: int, repeats: int) -> dict:
    runs = [child(system, path, rows_per_part) for _ in range(repeats)]
    best = dict(runs[0])
    for key in ("seconds", "cpu_seconds", "peak_rss_mb"):
        best[key] = statistics.median(r[key] for r in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller corpora (a smoke run)")
    parser.add_argument("--child", nargs=3, metavar=("SYSTEM", "PATH", "RUN_DIR"))
    args = parser.parse_args()
    if args.child:
        system, path, run_dir = args.child
        result = run_datasketch(Path(path)) if system == "datasketch" else run_curate(Path(path), Path(run_dir))
        print(json.dumps(result))
        return
    scale = 0.1 if args.quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small = corpus_file(folder, int(20_000 * scale), 200, seed=1)
        print(f"corpus A: {int(20_000 * scale)} docs x 200 words, 20% planted copies at J in [0.5, 1]")
        base = child("datasketch", small)
        ours = median_run("curate", small, 10_000, 3)
        print(line("datasketch", base))
        print(line(f"curate {ours['bands_x_rows']}", ours))
        print(f"  speed ratio (curate / datasketch, wall): {base['seconds'] / ours['seconds']:.1f}x")
        large = corpus_file(folder, int(200_000 * scale), 200, seed=2)
        print(f"corpus B: {int(200_000 * scale)} docs x 200 words (throughput, curate only, median of 3)")
        big = median_run("curate", large, 50_000, 3)
        print(line("curate", big))
        marginal = (big["mb"] - ours["mb"]) / max(big["cpu_seconds"] - ours["cpu_seconds"], 1e-9)
        print(f"  marginal throughput B over A (fixed start-up costs cancel): {marginal:.1f} MB per CPU-s")
        print("memory in rows (curate only, 40-word docs, 100k rows per part):")
        figures = []
        for docs in (int(250_000 * scale), int(1_000_000 * scale)):
            path = corpus_file(folder, docs, 40, seed=3)
            r = child("curate", path, 100_000)
            figures.append((docs, r["peak_rss_mb"]))
            print(line(f"{docs} rows", r))
        (n1, m1), (n2, m2) = figures
        per_row = (m2 - m1) * 1024 * 1024 / (n2 - n1)
        at_10m = m2 + per_row * (10_000_000 - n2) / 2**20
        print(f"  marginal memory: {per_row:.0f} bytes/row -> 10M rows ~ {at_10m:.0f} MB")


if __name__ == "__main__":
    main()
