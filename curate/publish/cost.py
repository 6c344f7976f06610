"""Generate's compute cost for the card and the report: device-hours per thousand accepted traces."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from curate.rundir import RunDir


def compute_cost(run_dir: Path, stages: list[dict], accepted: int) -> list[dict]:
    """Device-hours the `generate` stage(s) spent, and per thousand accepted traces.

    Per part, generate records its engine time (`engine_seconds`: the requests it sent, not the
    ones replayed from its cache, nor engine start-up) and the devices the engine held (`device`
    gpu or cpu, `devices` GPUs or cores); hours = seconds x devices / 3600, summed over parts.
    CPU runs report CPU-hours (core-hours), never GPU-hours. `accepted`: the rows that reached
    dataset/. A server teacher (openai) records no devices: its cost is the server's, not shown.
    The figures come from the stage's part markers, so re-rendering a finished run reproduces them.
    """
    rd, hours = RunDir(run_dir), Counter()
    for stage in (s for s in stages if s.get("name") == "generate"):
        for part in rd.part_stats(Path(run_dir) / stage["dir"]).values():
            stats = part.get("stats") or {}
            seconds, devices = stats.get("engine_seconds"), stats.get("devices")
            if stats.get("device") in ("gpu", "cpu") and isinstance(seconds, (int, float)) and devices:
                hours[stats["device"]] += seconds * devices / 3600
    return [{"device": kind.upper(), "hours": _three_digits(value), "accepted": accepted,
             "per_thousand": _three_digits(value * 1000 / accepted) if accepted else None}
            for kind, value in sorted(hours.items())]


def _three_digits(value: float) -> float:
    """Three significant figures: a measured time, not an exact count."""
    return float(f"{value:.3g}")
