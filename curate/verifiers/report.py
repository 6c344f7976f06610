"""The verification report: RUN/reports/verify.json and verify.md.

Counts per source and domain by outcome, the most common failure reasons, pass@k averaged over
problems, and a few example rows per outcome. Built from the stage's output parts only, so it is
deterministic (no timings) and can be rebuilt at any time with `build_report(paths)`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from curate.rundir import RunDir
from curate.storage.parquet_files import read_parquet

COLUMNS = ["id", "sample_idx", "source", "domain", "verdict", "verify_detail", "problem_stats"]
TOP_REASONS = 10


def build_report(parts: list[Path], *, examples: int = 3) -> dict[str, Any]:
    """Aggregate verdicts and problem statistics over the given part files."""
    counts: dict[str, Counter] = defaultdict(Counter)
    reasons: Counter = Counter()
    by_domain: dict[str, Counter] = defaultdict(Counter)
    extraction: Counter = Counter()
    bad_golds: Counter = Counter()
    shown: dict[str, list[dict]] = defaultdict(list)
    problems: dict[str, dict] = {}
    for path in sorted(parts):
        if not Path(path).exists():
            continue
        for row in read_parquet(path, columns=COLUMNS).to_pylist():
            verdict = row["verdict"] or "unverified"
            counts[f"{row['source']} / {row['domain']}"][verdict] += 1
            detail = json.loads(row["verify_detail"]) if row["verify_detail"] else {}
            if verdict not in ("pass", "unverified"):
                reasons[f"{verdict}: {_generic(detail.get('reason', '?'))}"] += 1
                by_domain[row["domain"] or "?"][f"{verdict}: {_generic(detail.get('reason', '?'))}"] += 1
            if "extraction" in detail:
                extraction[f"{detail['extraction']} / {verdict}"] += 1
            if verdict == "bad_reference":
                bad_golds[_generic(detail.get("reason", "?"))] += 1
            if len(shown[verdict]) < examples:
                shown[verdict].append({"id": row["id"], "sample_idx": row["sample_idx"], "source": row["source"],
                                       "reason": detail.get("reason"), "extracted": detail.get("extracted")})
            if row["problem_stats"]:
                problems[row["id"]] = {"domain": row["domain"], **json.loads(row["problem_stats"])}
    return {
        "counts": {k: dict(sorted(v.items())) for k, v in sorted(counts.items())},
        "totals": dict(sorted(sum(counts.values(), Counter()).items())),
        "top_failure_reasons": [[r, n] for r, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0]))[:TOP_REASONS]],
        "reasons_by_domain": {d: [[r, n] for r, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:3]]
                              for d, c in sorted(by_domain.items())},
        "extraction": dict(sorted(extraction.items())),
        "bad_references": [[r, n] for r, n in sorted(bad_golds.items(), key=lambda x: (-x[1], x[0]))[:TOP_REASONS]],
        "problems": _problem_summary(problems),
        "examples": dict(sorted(shown.items())),
    }


def _generic(reason: str) -> str:
    """Reasons without row-specific numbers, so they group."""
    return reason if len(reason) <= 120 else reason[:117] + "..."


def _problem_summary(problems: dict[str, dict]) -> dict[str, Any]:
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for stats in problems.values():
        by_domain[stats["domain"] or "?"].append(stats)
    out = {}
    for domain, items in sorted(by_domain.items()):
        judged = [s for s in items if not s.get("bad_reference")]
        ks = sorted({k for s in judged for k in s if k.startswith("pass@")}, key=lambda k: int(k[5:]))
        mean = {k: round(sum(s[k] for s in judged if k in s) / max(1, sum(k in s for s in judged)), 4) for k in ks}
        out[domain] = {
            "problems": len(items), "bad_reference": len(items) - len(judged),
            "solved_by_all": sum(s["correct"] == s["n"] for s in judged),
            "solved_by_none": sum(s["correct"] == 0 for s in judged),
            "mean_pass@k": mean,
        }
    return out


def to_markdown(report: dict[str, Any]) -> str:
    verdicts = sorted({v for c in report["counts"].values() for v in c})
    lines = ["# Verification report", "", "## Outcomes by source and domain", "",
             "| source / domain | " + " | ".join(verdicts) + " |", "|---|" + "---|" * len(verdicts)]
    for key, c in report["counts"].items():
        lines.append(f"| {key} | " + " | ".join(str(c.get(v, 0)) for v in verdicts) + " |")
    lines += ["", "## Problems", "",
              "| domain | problems | bad reference | solved by all | solved by none | mean pass@k |",
              "|---|---|---|---|---|---|"]
    for domain, p in report["problems"].items():
        mean = ", ".join(f"{k}={v}" for k, v in p["mean_pass@k"].items())
        lines.append(f"| {domain} | {p['problems']} | {p['bad_reference']} | {p['solved_by_all']} | "
                     f"{p['solved_by_none']} | {mean} |")
    lines += ["", "## Top failure reasons", ""]
    lines += [f"- {n} x {reason}" for reason, n in report["top_failure_reasons"]] or ["- none"]
    if report.get("extraction"):
        lines += ["", "## Answer extraction (rule / verdict)", ""]
        lines += [f"- {n} x {rule}" for rule, n in report["extraction"].items()]
    if report.get("bad_references"):
        lines += ["", "## Unusable gold answers (bad_reference)", ""]
        lines += [f"- {n} x {reason}" for reason, n in report["bad_references"]]
    lines += ["", "## Examples", ""]
    for verdict, rows in report["examples"].items():
        for ex in rows:
            lines.append(f"- **{verdict}** `{ex['id']}`#{ex['sample_idx']} ({ex['source']}): {ex['reason']}"
                         + (f" — extracted `{ex['extracted']}`" if ex.get("extracted") else ""))
    return "\n".join(lines) + "\n"


def write_report(parts: list[Path], run_dir: Path | None, artifacts: Path | None, *, examples: int = 3,
                 extra: dict | None = None) -> dict:
    """Write reports/verify.{json,md} under the run directory (and the JSON into artifacts)."""
    report = build_report(parts, examples=examples)
    text = json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False)
    if run_dir is not None:
        folder = RunDir(run_dir).reports
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "verify.json").write_text(text + "\n")
        (folder / "verify.md").write_text(to_markdown(report))
    if artifacts is not None:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        stats = {"totals": report["totals"], "problems": report["problems"], **(extra or {})}
        (Path(artifacts) / "stats.json").write_text(json.dumps(stats, sort_keys=True))
    return report


def upstream_summary(run_dir: Path | None) -> str | None:
    """Why rows did not pass, from RUN/reports/verify.json: the top reasons per domain, for the
    errors of later stages that find too few rows ("math: 1,058 no_answer: no final answer ...")."""
    path = RunDir(run_dir).reports / "verify.json" if run_dir else None
    if path is None or not path.exists():
        return None
    report = json.loads(path.read_text())
    parts = [f"{domain}: " + "; ".join(f"{n:,} {reason}" for reason, n in reasons)
             for domain, reasons in report.get("reasons_by_domain", {}).items() if reasons]
    return (" | ".join(parts) + "; see reports/verify.md") if parts else None
