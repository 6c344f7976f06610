"""Read a model's verified run into per-problem records and its cost figures.

Rows come from the run's last verify stage (its part files); a problem's samples are sorted by
`sample_idx`. The vote of a sample (maj@k) is the answer the verifier extracted
(`verify_detail.extracted`), else its whitespace-normalised final answer. Cost comes from the
generate stage's part markers: engine seconds and devices (the vllm engine), prompt and
completion tokens (any backend; what an API bills).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.evaluation.summary import Problem
from curate.rundir import RunDir
from curate.storage.parquet_files import read_parquet

COLUMNS = ["id", "problem", "sample_idx", "source", "domain", "verdict", "verify_detail", "answer", "reasoning",
           "completion_tokens", "prompt_tokens", "finish_reason", "extra", "teacher"]


def _stage(rd: RunDir, name: str) -> Path:
    dirs = rd.stage_dirs_named(name)
    if not dirs:
        raise CurateError(f"{rd.path} has no {name} stage", "Rerun `curate eval`; it completes the run.")
    return dirs[-1]


def read_rows(run_dir: Path) -> list[dict[str, Any]]:
    rd = RunDir(run_dir)
    rows: list[dict[str, Any]] = []
    for part in rd.parts(_stage(rd, "verify")):
        rows += read_parquet(part, columns=COLUMNS).to_pylist()
    return rows


def vote(row: dict[str, Any]) -> str | None:
    detail = json.loads(row["verify_detail"]) if row.get("verify_detail") else {}
    extracted = detail.get("extracted")
    if extracted not in (None, ""):
        return " ".join(str(extracted).split())
    return " ".join(row["answer"].split()) if row.get("answer") else None


def problems(rows: list[dict[str, Any]], date_key: str | None) -> list[Problem]:
    """One `Problem` per id, its samples in sample order, labelled by benchmark and domain."""
    by_id: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_id[row["id"]].append(row)
    out = []
    for pid in sorted(by_id):
        samples = sorted(by_id[pid], key=lambda r: r["sample_idx"] or 0)
        first = samples[0]
        extra = json.loads(first["extra"]) if first.get("extra") else {}
        date = extra.get(date_key) if date_key else None
        out.append(Problem(
            id=pid, passed=[r["verdict"] == "pass" for r in samples], answers=[vote(r) for r in samples],
            traces=[(r["reasoning"] or "") + "\n" + (r["answer"] or "") for r in samples],
            tokens=[r["completion_tokens"] for r in samples],
            truncated=[r["finish_reason"] == "length" for r in samples],
            judged=not any(r["verdict"] == "bad_reference" for r in samples),
            groups={"benchmark": str(extra.get("benchmark") or first["source"] or "?"),
                    "domain": str(first["domain"] or "?")},
            date=str(date)[:10] if date not in (None, "") else None))
    return out


def cost(run_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Engine seconds and devices (vllm), prompt and completion tokens (every backend)."""
    rd = RunDir(run_dir)
    stats = [m.get("stats", {}) for m in rd.part_stats(_stage(rd, "generate")).values()]
    seconds = sum(s.get("engine_seconds", 0) or 0 for s in stats)
    devices = max((s.get("devices") or 0 for s in stats), default=0)
    device = next((s.get("device") for s in stats if s.get("device")), None)
    return {"engine_seconds": round(seconds, 3), "device": device, "devices": devices,
            "device_seconds": round(seconds * devices, 3) if devices else None,
            "prompt_tokens": int(sum({r["id"]: r["prompt_tokens"] or 0 for r in rows}.values())),
            "completion_tokens": int(sum(r["completion_tokens"] or 0 for r in rows)),
            "teacher": next((r["teacher"] for r in rows if r.get("teacher")), None)}
