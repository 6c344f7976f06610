"""The chart helper process (`curate.text.chart_process`): the same bytes as drawing here, a
fallback when it dies, and a quickstart whose main process never imports matplotlib."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from curate.publish.card import PLOTS_DIR
from curate.publish.plots import funnel_chart, token_histogram, verdict_chart
from curate.rundir import RunDir
from curate.text import chart_process

ROOT = Path(__file__).resolve().parent.parent
LENGTHS = {"reasoning": np.array([120, 340, 90, 1500, 700]), "general": np.array([40, 60, 75])}
BARS = {"math": {"pass": 40, "fail": 12, "timeout": 1}, "code": {"pass": 9, "no_answer": 2}}
FUNNEL = [{"dir": "00-load", "rows_out": 208, "rejected": 0}, {"dir": "01-filter", "rows_out": 181, "rejected": 27}]


@pytest.fixture
def helper():
    chart_process.start()
    yield
    chart_process.stop()


def test_the_helper_draws_the_same_bytes_as_this_process(helper):
    drawings = [chart_process.draw(token_histogram, LENGTHS, title="Tokens per row"),
                chart_process.draw(verdict_chart, BARS, title="Verdicts", fmt="svg"),
                chart_process.draw(funnel_chart, FUNNEL)]
    assert all(d.future is not None for d in drawings)  # sent to the helper, not drawn here
    here = [token_histogram(LENGTHS, title="Tokens per row"), verdict_chart(BARS, title="Verdicts", fmt="svg"),
            funnel_chart(FUNNEL)]
    assert [d.result() for d in drawings] == here
    assert here[0].startswith(b"\x89PNG") and here[1].startswith("<svg")


def test_a_chart_started_ahead_is_taken_once_by_the_draw_that_asks_for_it(helper):
    chart_process.ahead(verdict_chart, BARS, title="Verdicts", fmt="svg")
    chart_process.ahead(verdict_chart, BARS, title="Verdicts", fmt="svg")  # already on its way
    assert len(chart_process._AHEAD) == 1
    other = chart_process.draw(verdict_chart, BARS, title="Other", fmt="svg")
    taken = chart_process.draw(verdict_chart, BARS, title="Verdicts", fmt="svg")
    assert other.future is not None and not chart_process._AHEAD
    assert taken.result() == verdict_chart(BARS, title="Verdicts", fmt="svg")
    assert chart_process.draw(verdict_chart, BARS, title="Verdicts", fmt="svg") is not taken  # once
    chart_process.stop()
    chart_process.ahead(verdict_chart, BARS)  # no helper: nothing is started
    assert not chart_process._AHEAD


def test_without_a_helper_a_drawing_runs_here():
    chart_process.stop()
    drawing = chart_process.draw(token_histogram, LENGTHS)
    assert drawing.future is None
    assert drawing.result() == token_histogram(LENGTHS)


def test_a_killed_helper_costs_nothing_but_the_time_to_draw_here(helper):
    pid = chart_process.draw(os.getpid).result()
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    drawing = chart_process.draw(token_histogram, LENGTHS)
    assert drawing.result() == token_histogram(LENGTHS)  # drawn here after the helper broke
    assert not chart_process.started()
    assert chart_process.draw(token_histogram, LENGTHS).future is None


# Runs the quickstart as `curate run` does (the report included) and prints which of the heavy
# modules this process imported: the charts are drawn in the helper, which imported matplotlib.
SCRIPT = """
import json, sys
from curate.cli import cli
from curate.text import chart_process
ahead, started = chart_process.ahead, []
chart_process.ahead = lambda *a, **k: (started.append(a[0].__name__), ahead(*a, **k))
try:
    cli(["run", sys.argv[2], "--run-dir", sys.argv[1], "--quiet"], standalone_mode=False)
finally:
    print(json.dumps({"ahead": started, "left": len(chart_process._AHEAD)}))
    print(json.dumps({m: m in sys.modules for m in ("matplotlib", "numba")}))
"""


def test_the_quickstart_draws_its_charts_outside_the_main_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), str(ROOT / "recipes" / "quickstart.yaml")],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == '{"matplotlib": false, "numba": false}'
    # the report's four charts were started while the card was written, and the report took each
    assert json.loads(done.stdout.strip().splitlines()[-2]) == {
        "ahead": ["funnel_chart", "cluster_chart", "token_histogram", "verdict_chart"], "left": 0}
    rd = RunDir(run_dir)
    assert sorted(p.name for p in (rd.dataset / PLOTS_DIR).iterdir()) == ["token_lengths.png", "verdicts.png"]
    assert (rd.reports / "report.html").read_text().count('<svg class="chart"') == 4


def test_the_runner_starts_the_helper_after_the_stages_that_fill_the_cores(tmp_path, monkeypatch):
    """verify's checkers and sandboxes keep every core busy; the helper's matplotlib import
    waits for the first chain after them (where one core is idle), and only runs are started
    that still have charts to draw."""
    from curate.registry import stage_class
    from curate.runner import start_chart_helper

    calls = []
    monkeypatch.setattr(chart_process, "start", lambda: calls.append(True))
    rd = RunDir(tmp_path)

    def starts(stages, first, charts_after=False):
        calls.clear()
        start_chart_helper(rd, stages, first, charts_after)
        return bool(calls)

    verify = stage_class("verify")({"sandbox": "none"})
    plain, write, no_plots = stage_class("filter")(), stage_class("write")(), stage_class("write")({"plots": False})
    stages = [plain, verify, plain, write]
    assert [starts(stages, first) for first in range(4)] == [False, False, True, True]
    assert not starts([plain, verify, plain, no_plots], 2)
    assert starts([plain, verify, plain, no_plots], 2, charts_after=True)  # `curate run`'s report
    assert not starts([plain, verify, plain, no_plots], 0, charts_after=True)
    rd.stage_dir(3, "write").mkdir(parents=True)
    rd.set_flag(rd.stage_dir(3, "write"), "finalized", 0.0)  # the card is drawn already
    assert not starts(stages, 2)
