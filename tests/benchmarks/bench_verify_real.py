"""Math verification on real model answers: curate against stock math-verify, on the same rows.

    python tests/benchmarks/bench_verify_real.py [--mv-sdist PATH]

Rows: the CHAMP set (`pip install champ-dataset`): 1,080 zero-shot answers by four chat models
to 270 competition problems, in plain prose. Labels: our own reading of each reply's final answer
against the gold (tests/helpers/champ_labels.json). Reported per checker and per extraction rule
on the seeded random sample: accuracy, false accepts (passed, labelled wrong) and false rejects
(not passed, labelled right); then the disagreement audit (every row where curate and stock
differ), which is the exact difference between the two over all 1,080 rows.

Also: agreement with the labels of Math-Verify's own test tables, read from its sdist.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import champ, mv_cases  # noqa: E402


def curate_verdicts(rows: list[dict], policy: str = "standard") -> list[tuple[str, dict]]:
    from curate.verifiers.math_rows import close_pools, verify_math_rows

    try:
        return verify_math_rows(rows, lambda _s: {}, workers=1, deadline=5.0, memory_mb=2048, policy=policy)
    finally:
        close_pools()


STOCK = """
import json, logging, sys
from math_verify import parse, verify
logging.getLogger("math_verify").setLevel(logging.ERROR)
out = []
for gold, answer in json.load(sys.stdin):
    try:
        out.append(bool(verify(parse(gold), parse(answer))))
    except Exception:  # a crash is a non-pass, as for a user
        out.append(False)
print(json.dumps(out))
"""


def stock_verdicts(rows: list[dict]) -> list[bool]:
    """Stock math-verify as its README shows it (parse the gold, parse the reply, verify), in a
    fresh interpreter: its SIGALRM timeouts need a main thread whose signal state no earlier
    caller (a test session) has touched, and sympy's caches must not grow in the caller."""
    import json
    import subprocess
    import sys

    pairs = json.dumps([[row["reference"], row["answer"]] for row in rows])
    done = subprocess.run([sys.executable, "-c", STOCK], input=pairs, capture_output=True, text=True,
                          timeout=1800, check=True)
    return json.loads(done.stdout)


def score(passed: list[bool], truth: list[bool]) -> dict:
    fa = sum(p and not t for p, t in zip(passed, truth))
    fr = sum(t and not p for p, t in zip(passed, truth))
    n = len(truth)
    return {"n": n, "accuracy": (n - fa - fr) / n if n else 0.0, "false_accepts": fa, "false_rejects": fr}


def real_answers(policy: str = "standard") -> dict:
    rows = champ.load_rows()
    labels = champ.labels()
    results = curate_verdicts(rows, policy)
    ours = [v == "pass" for v, _ in results]
    stock = stock_verdicts(rows)
    rules = [d.get("extraction", "none") for _, d in results]
    sample = [i for i, r in enumerate(rows) if r["trace_id"] in champ.random_sample(rows)]
    truth = {i: labels[rows[i]["trace_id"]] for i in range(len(rows)) if rows[i]["trace_id"] in labels}
    by_rule = collections.defaultdict(list)
    for i in sample:
        by_rule[rules[i]].append(i)
    split = [i for i in range(len(rows)) if ours[i] != stock[i]]
    audited = [i for i in split if i in truth]
    return {
        "rows": len(rows), "labelled": len(sample), "verdicts": collections.Counter(v for v, _ in results),
        "curate_pass_all": sum(ours), "stock_pass_all": sum(stock),
        "curate": _score(ours, truth, sample), "stock": _score(stock, truth, sample),
        "by_rule": {rule: {"curate": _score(ours, truth, ix), "stock": _score(stock, truth, ix)}
                    for rule, ix in sorted(by_rule.items())},
        "disagreements": len(split), "unlabelled_disagreements": len(split) - len(audited),
        "audit": {"curate": _score(ours, truth, audited), "stock": _score(stock, truth, audited)},
    }


def _score(passed: list[bool], truth: dict[int, bool], rows: list[int]) -> dict:
    return score([passed[i] for i in rows], [truth[i] for i in rows])


def suite_agreement(path: Path | None) -> dict:
    cases = mv_cases.load_cases(path)
    rows = [{"id": str(i), "trace_id": str(i), "reference": g, "answer": p, "source": "mv"}
            for i, (g, p, _e, _n) in enumerate(cases)]
    ours = curate_verdicts(rows) if rows else []
    agree = [(v == "pass") == e for (v, _), (_g, _p, e, _n) in zip(ours, cases)]
    fa = sum(v == "pass" and not e for (v, _), (_g, _p, e, _n) in zip(ours, cases))
    fr = sum(v != "pass" and e for (v, _), (_g, _p, e, _n) in zip(ours, cases))
    return {"cases": len(cases), "agreement": sum(agree) / len(cases) if cases else 0.0,
            "false_accepts": fa, "false_rejects": fr}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mv-sdist", type=Path, default=None)
    parser.add_argument("--extract", default="standard")
    args = parser.parse_args()
    real = real_answers(args.extract)
    print(f"CHAMP real answers: {real['rows']} rows, {real['labelled']} labelled")
    print(f"  verdicts over all rows (curate): {dict(real['verdicts'])}; "
          f"passes: curate {real['curate_pass_all']}, stock math-verify {real['stock_pass_all']}")
    for name in ("curate", "stock"):
        s = real[name]
        print(f"  {name:7s} accuracy {s['accuracy']:.3f}  false accepts {s['false_accepts']}  "
              f"false rejects {s['false_rejects']}  (n={s['n']})")
    for rule, both in real["by_rule"].items():
        c, s = both["curate"], both["stock"]
        print(f"  rule {rule:26s} n={c['n']:3d}  curate acc {c['accuracy']:.3f} FA {c['false_accepts']} "
              f"FR {c['false_rejects']}  | stock acc {s['accuracy']:.3f} FA {s['false_accepts']} "
              f"FR {s['false_rejects']}")
    print(f"  disagreement audit (all {real['disagreements']} rows where the two checkers differ; "
          f"{real['unlabelled_disagreements']} unlabelled): the difference over all {real['rows']} rows")
    for name in ("curate", "stock"):
        s = real["audit"][name]
        print(f"    {name:7s} right on {s['n'] - s['false_accepts'] - s['false_rejects']}/{s['n']}  "
              f"false accepts {s['false_accepts']}  false rejects {s['false_rejects']}")
    suite = suite_agreement(args.mv_sdist)
    print(f"Math-Verify test tables: {suite['cases']} cases, agreement {suite['agreement']:.3f}, "
          f"false accepts {suite['false_accepts']}, false rejects {suite['false_rejects']}")


if __name__ == "__main__":
    main()
