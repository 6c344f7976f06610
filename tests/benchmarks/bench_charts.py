"""Benchmark: what the charts cost, matplotlib (this tree) against the Pillow drawing it replaced.

    python tests/benchmarks/bench_charts.py [--repeats 7] [--baseline REV]

Baseline, in the same run: the curate package as it was at REV (default: the last commit that
still had curate/publish/png_chart.py), unpacked with `git archive` into a temporary folder.
Every measurement is a fresh interpreter (a user's `curate report` or `curate card` pays the
import once per process), and old and new alternate, so both see the same load on a shared
machine. Measured, per side:

- chart import + first draw: importing the drawing library and drawing one token histogram PNG
  (what the first chart of a process costs);
- next draw: a second histogram in the same process (what each further chart costs);
- report: `write_report` of a small finished run (load -> filter -> mix -> write, 208 rows; the
  run of tests/publish_helpers.py), in a fresh process, from `import curate.publish.report`;
- card: `card_for_run` of the same run (README.md and its two PNGs), the same way;
- run: the whole small run itself (load -> filter -> mix -> write, which draws the card's PNGs),
  in a fresh process, from the import of the runner.

Prints medians per side and the ratio new / old. When vl-convert-python is installed (it is not
a dependency), one Vega-Lite histogram PNG is timed the same way: the alternative we measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHART = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from curate.publish.plots import token_histogram
rng = np.random.default_rng(0)
values = {"math": rng.lognormal(7, 1, 5000), "code": rng.lognormal(8, 1, 5000)}
t1 = time.perf_counter()
assert token_histogram(values)
t2 = time.perf_counter()
assert token_histogram(values, title="again")
t3 = time.perf_counter()
import curate
drew = "matplotlib" if "matplotlib" in sys.modules else "Pillow"
print(json.dumps({"import + first draw": t2 - t1, "next draw": t3 - t2, "from": curate.__file__, "drew": drew}))
"""

RUN = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from publish_helpers import make_run
make_run(Path(sys.argv[1]), name=sys.argv[2])
print(json.dumps({"run (4 stages + card)": time.perf_counter() - t0}))
"""

VEGA = """
import json, time
t0 = time.perf_counter()
import numpy as np
rng = np.random.default_rng(0)
values = {"math": rng.lognormal(7, 1, 5000), "code": rng.lognormal(8, 1, 5000)}
edges = np.geomspace(1, max(v.max() for v in values.values()), 41)
rows = [{"config": k, "x0": float(a), "x1": float(b), "n": int(n)}
        for k, v in values.items() for a, b, n in zip(edges[:-1], edges[1:], np.histogram(v, edges)[0])]
spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": 800, "height": 300,
        "title": "Tokens per row", "data": {"values": rows}, "mark": {"type": "rect", "opacity": 0.55},
        "encoding": {"x": {"field": "x0", "type": "quantitative", "scale": {"type": "log"}}, "x2": {"field": "x1"},
                     "y": {"field": "n", "type": "quantitative", "stack": None}, "color": {"field": "config"}}}
t1 = time.perf_counter()
import vl_convert
assert vl_convert.vegalite_to_png(spec)
t2 = time.perf_counter()
assert vl_convert.vegalite_to_png(dict(spec, title="again"))
t3 = time.perf_counter()
print(json.dumps({"import + first draw": t2 - t1, "next draw": t3 - t2}))
"""

WHOLE = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from curate.publish.report import write_report
from curate.publish.card import card_for_run
run = Path(sys.argv[1])
if sys.argv[2] == "report":
    write_report(run, output=run / "reports" / f"bench-{sys.argv[3]}.html")
else:
    card_for_run(run, output=run / "dataset" / f"bench-{sys.argv[3]}.md")
print(json.dumps({sys.argv[2]: time.perf_counter() - t0}))
"""


def baseline_tree(rev: str | None, into: Path) -> tuple[str, Path]:
    """Unpack curate/ at `rev` into `into`; returns (commit, folder to put on PYTHONPATH)."""
    if rev is None:
        last = subprocess.run(["git", "rev-list", "-1", "HEAD", "--", "curate/publish/png_chart.py"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        rev = f"{last}^" if last else "HEAD"
    commit = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit, "curate"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit, into


def measure(code: str, tree: Path, *args: str) -> dict[str, float]:
    env = {"PYTHONPATH": f"{tree}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
           "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", metavar="REV", help="git revision of the Pillow charts")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    from publish_helpers import make_run

    with tempfile.TemporaryDirectory(prefix="bench-charts-") as tmp:
        (Path(tmp) / "old").mkdir()
        commit, old_tree = baseline_tree(args.baseline, Path(tmp) / "old")
        run = make_run(Path(tmp) / "runs")
        sides = {"old (Pillow)": old_tree, "new (matplotlib)": ROOT}
        for tree in sides.values():  # warm caches (matplotlib's font cache on a fresh machine)
            measure(CHART, tree)
        times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
        vega = importlib.util.find_spec("vl_convert") is not None  # the alternative we measured, if installed
        if vega:
            times["vl-convert"] = {}
            measure(VEGA, ROOT)
        for i in range(args.repeats):
            for side, tree in (sides.items() if i % 2 == 0 else reversed(sides.items())):
                for code, extra in ((CHART, ()), (WHOLE, (str(run), "report", str(i))),
                                    (WHOLE, (str(run), "card", str(i))), (RUN, (tmp, f"run-{side[:3]}-{i}"))):
                    what = measure(code, tree, *extra)
                    if "drew" in what and i == 0:
                        print(f"{side}: {what.pop('from')} drew with {what.pop('drew')}", file=sys.stderr)
                    what.pop("from", None), what.pop("drew", None)
                    for key, seconds in what.items():
                        times[side].setdefault(key, []).append(seconds)
            if vega:
                for key, seconds in measure(VEGA, ROOT).items():
                    times["vl-convert"].setdefault(key, []).append(seconds)
    print(f"baseline: curate at {commit[:10]}; {args.repeats} fresh processes per figure, medians in seconds")
    old, new = times["old (Pillow)"], times["new (matplotlib)"]
    print(f"{'':24}{'old (Pillow)':>14}{'new (matplotlib)':>18}{'new / old':>11}")
    for key in old:
        a, b = statistics.median(old[key]), statistics.median(new[key])
        print(f"{key:24}{a:14.3f}{b:18.3f}{b / a:11.2f}")
    for key, values in times.get("vl-convert", {}).items():
        print(f"vl-convert {key:13}{statistics.median(values):14.3f}   (one histogram PNG, Vega-Lite)")


if __name__ == "__main__":
    main()
