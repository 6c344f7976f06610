"""The run's state for whoever follows the run from another process (`curate push --follow`)."""

from __future__ import annotations

import time
from typing import Any

from curate.rundir import RunDir


class RunState:
    """The run's state in the run directory (`RunDir.write_run_state`), for whoever follows the
    run from another process (`curate push --follow`): running (with the pid, host and the chain
    of stages at work), finished, failed or interrupted (naming the stage)."""

    def __init__(self, rd: RunDir):
        import os
        import socket

        self.rd, self.stage = rd, None
        self.attempt = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}

    def record(self, state: str, stage: str | None = None, **extra: Any) -> None:
        """Best effort: a state that cannot be written (a full disk) must not fail the run; a
        follower then sees the process gone and stops."""
        self.stage = stage or self.stage
        try:
            self.rd.write_run_state({"state": state, "stage": self.stage, **self.attempt, **extra})
        except OSError:
            pass

    def failed(self, error: BaseException) -> None:
        """Record a failure, naming the stage the error came from (else the chain at work)."""
        kind = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        self.record(kind, stage=getattr(error, "stage_label", None), error=message[:2000])
