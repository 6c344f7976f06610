"""Progress of one part's generation: the figures people watch on a job that runs for days.

Prompts done/total (cached ones count as done from the start), samples, output tokens per
second (of this process's fresh work only), ETA, truncation rate. A tqdm bar shows them; on a
non-terminal (a log file) it updates at most every 30 s. `summary()` goes to the stage stats.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from curate.teachers.base import Response


class Progress:
    def __init__(self, *, total: int, cached: int, desc: str = "generate", gpus: int = 0,
                 enabled: bool = True):
        from tqdm import tqdm

        self.total, self.cached, self.gpus = total, cached, gpus
        self.started = time.monotonic()
        self.fresh = 0
        self.samples = self.output_tokens = self.prompt_tokens = 0
        self.truncated = self.too_long = self.errors = 0
        interval = 0.5 if sys.stderr.isatty() else 30.0
        self.bar = tqdm(total=total, initial=cached, desc=desc, unit="prompt", leave=False,
                        mininterval=interval, disable=not enabled or total == 0)

    def update(self, response: Response, *, fresh: bool = True) -> None:
        """Count one finished request (`fresh`: generated now, not replayed from the cache)."""
        if response.error_kind == "prompt_too_long":
            self.too_long += 1
        elif response.error:
            self.errors += 1
        for sample in response.samples:
            self.samples += 1
            self.truncated += sample.finish_reason == "length"
            if fresh:
                self.output_tokens += sample.completion_tokens or 0
        if fresh:
            self.fresh += 1
            self.prompt_tokens += response.prompt_tokens or 0
            self.bar.update(1)
            if self.bar.n % 16 == 0 or self.bar.n == self.total:
                self.bar.set_postfix(self.postfix(), refresh=False)

    def rate(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return self.output_tokens / elapsed

    def postfix(self) -> dict[str, str]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        left = self.total - self.cached - self.fresh
        eta = left * elapsed / self.fresh if self.fresh else float("nan")
        return {"samples": str(self.samples), "tok/s": f"{self.rate():.0f}",
                "trunc": f"{self.truncation_rate():.1%}", "eta": _clock(eta)}

    def truncation_rate(self) -> float:
        return self.truncated / self.samples if self.samples else 0.0

    def close(self) -> None:
        self.bar.close()

    def summary(self) -> dict[str, Any]:
        """Rates and time for the stage stats (counts go in the counters)."""
        elapsed = time.monotonic() - self.started
        return {"elapsed_seconds": round(elapsed, 3), "output_tokens_per_s": round(self.rate(), 1),
                "truncation_rate": round(self.truncation_rate(), 4),
                "gpu_hours": round(elapsed * self.gpus / 3600, 4)}


def _clock(seconds: float) -> str:
    if math.isnan(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
