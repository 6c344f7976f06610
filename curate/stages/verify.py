"""`verify`: judge every trace (math by sympy equivalence, code by sandboxed tests) and score problems.

Each row gets a `verdict` (pass, fail, no_answer, bad_reference, timeout, error; `unverified`
for domains without a verifier) and a `verify_detail` JSON with the reason and the extracted
answer. Each problem (rows sharing `id`, which live in one part) gets `pass_rate` and a
`problem_stats` JSON with n, correct, unbiased pass@k for k = 1, 2, 4, ... <= n, the number of
distinct correct answers and the mean pairwise n-gram overlap of its correct traces.

Math runs in long-lived spawned worker processes with a per-item deadline enforced by the parent
(`curate.verifiers.pool`); each gold is parsed once per problem, and identical answers of one
problem are checked once. Code runs each test in a fresh bubblewrap sandbox and is judged in this
process (`curate.verifiers.code`). When every part runs in this process, `prepare` starts the math
workers (if there are math rows) and a small run's code checks (`curate.verifiers.prefetch`), so
their waits overlap. `finalize` writes RUN/reports/verify.{md,json}.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from curate.errors import CurateError, InputError, MissingExtra
from curate.schema import conform, dumps
from curate.stages.base import PartContext, PrepareContext, Stage, StageConfig
from curate.stages.judging import VerifyJudgeConfig, judge_max_parallel, judge_verdicts
from curate.storage.parquet_files import read_parquet

Verifier = Literal["math", "code", "none"]


class SourceOptions(BaseModel):
    """Grader conventions for one source; strict unless said otherwise."""

    model_config = ConfigDict(extra="forbid")

    percent: Literal["sign", "fraction", "either"] = Field(
        "sign", description="sign: '60%' matches a gold of 60 (the sign is notation); fraction: it "
        "matches 0.6 only; either: both.")
    lists: Literal["ordered", "unordered"] = Field(
        "ordered", description="Comma-separated answers: compare item by item in order, or as sets.")
    rel_tol: float | None = Field(None, ge=0, description="Numeric tolerance (relative; absolute below 1).")
    units: Literal["strict", "strip"] = Field("strict", description="strip: '5 cm' matches a gold of 5.")
    multiple_choice: bool = Field(False, description="The gold is a letter A-J; compare choice letters.")
    text_answers: bool = Field(
        False, description="Golds that are words ('Yes', a name) are compared as normalised text "
        "instead of being flagged bad_reference.")
    locale: Literal["auto", "en", "eu"] = Field(
        "auto", description="Number notation: en reads 1,000 as a thousand; eu reads 2,5 as 2.5 and 1.000 as a "
        "thousand; auto accepts both where unambiguous (1,000 is a thousand, 2,74 is 2.74).")


class VerifyConfig(StageConfig):
    verifiers: dict[str, Verifier] = Field(
        default_factory=lambda: {"math": "math", "code": "code"},
        description="Domain -> verifier (math, code, none). Rows of other domains get verdict unverified.")
    extract: Literal["strict", "standard", "lenient"] = Field(
        "standard", description="How far down the answer-extraction cascade to go: strict reads only the last "
        "\\boxed{}; standard adds an explicit 'answer is' phrase and the last expression of the final sentence "
        "or display; lenient also the last expression of any paragraph. `verify_detail.extraction` records "
        "the rule used.")
    source_options: dict[str, SourceOptions] = Field(
        default_factory=dict, description="Per-source grader conventions, keyed by source name.")
    checkers: int = Field(0, ge=0, description="Checker processes (math) and sandboxes at once (code); "
                         "0 = one per CPU core.")
    deadline: float = Field(2.0, gt=0, description="Seconds one math answer may take before it is a timeout.")
    memory_mb: int = Field(2048, ge=256, description="Address-space limit of each math worker process.")
    sandbox: Literal["bwrap", "none"] = Field(
        "bwrap", description="bwrap: run code in a bubblewrap sandbox. none: run it unisolated "
        "(only for trusted code; must be chosen explicitly).")
    code_timeout: float = Field(5.0, gt=0, description="Wall-clock seconds per program run (one test).")
    code_memory_mb: int = Field(1024, ge=64, description="Address-space limit of a sandboxed program.")
    max_output_kb: int = Field(65536, ge=1, description="Output cap per program run, in KiB, for stdout and "
                               "for stderr each (default 64 MiB); a run that writes more fails with that reason.")
    max_tests: int | None = Field(None, ge=1, description="Run at most this many tests per problem.")
    python: str | None = Field(
        None, description="Interpreter for candidate programs (default: this Python if the sandbox "
        "can read it, else /usr/bin/python3).")
    report_examples: int = Field(3, ge=0, description="Example rows per outcome in the verify report.")
    judge: VerifyJudgeConfig | None = Field(
        None, description="Optional LLM judge for rows proofs cannot settle (verdict judge_pass or "
        "judge_fail, kept apart from pass); a teacher block: teacher, model, ... (docs: stages, verify).")


class Verify(Stage):
    """Annotate rows with a verdict and problems with pass rate, pass@k and diversity."""

    name = "verify"
    version = 2
    Config = VerifyConfig
    has_prepare = True
    has_finalize = True
    fills_cores = True  # math workers, sandboxed programs

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.max_parallel = judge_max_parallel(self.config.judge)  # an in-process judge engine

    def check_requirements(self) -> None:
        uses = set(self.config.verifiers.values())
        # installed, not imported: the workers import math-verify (and sympy, about 1.5 CPU
        # seconds); this process never checks math itself
        if "math" in uses and importlib.util.find_spec("math_verify") is None:
            raise MissingExtra("math_verify", "verify", "checking math answers")
        if "code" in uses and self.config.sandbox == "bwrap" and not shutil.which("bwrap"):
            raise CurateError(
                "the code verifier needs bubblewrap (bwrap), which is not installed.",
                "Install it: `apt-get install bubblewrap`. Or set `sandbox: none` in the verify "
                "stage to run model-written code without isolation (trusted code only).")

    def prepare(self, ctx: PrepareContext) -> None:
        """Problems whose samples straddle parts are judged here, whole, so their stats are right."""
        import json

        from curate.verifiers.split import judge_split_problems

        self.check_domains(ctx.inputs)
        if getattr(ctx.executor, "inline", False):  # every part runs here: start their checkers now
            self._start_checkers(ctx.inputs)
        count = judge_split_problems(lambda rows: self.annotate(rows, PartContext()), ctx.inputs, ctx.artifacts)
        ctx.stats["split_problems"] = count
        (ctx.artifacts / "prepare.json").write_text(json.dumps({"split_problems": count}))

    def _start_checkers(self, inputs) -> None:
        """Start the math workers (they import sympy meanwhile; as many as the run's math rows
        need, `workers_for`) when there are math rows and, in a small run, the code checks of
        every part, so that their waits overlap (`prefetch`)."""
        from collections import Counter

        from curate.stages.base import read_input
        from curate.verifiers import prefetch

        counts: Counter = Counter()
        for path in inputs:
            for item in pc.value_counts(read_input(path, ["domain"])["domain"]).to_pylist():
                if not self.config.domains or item["values"] in self.config.domains:
                    counts[self.config.verifiers.get(item["values"] or "", "none")] += item["counts"]
        if counts["math"]:
            from curate.verifiers.math_rows import get_pool

            get_pool(workers=self._workers(), deadline=self.config.deadline, memory_mb=self.config.memory_mb,
                     rows=counts["math"])
        if 0 < counts["code"] <= prefetch.MAX_ROWS:
            rows = [row for path in inputs for row in conform(read_input(path)).to_pylist()
                    if (not self.config.domains or row["domain"] in self.config.domains)
                    and self.config.verifiers.get(row["domain"] or "", "none") == "code"]
            prefetch.start(rows, self._code_settings(), self._workers())

    def check_domains(self, inputs) -> None:
        """Refuse rows without a domain (they would all pass as `unverified`), before any part runs."""
        if self.config.domains:  # rows outside the listed domains pass through untouched
            return
        from pathlib import Path


        missing = total = 0
        for path in (p for p in inputs if Path(p).exists()):
            column = read_parquet(path, columns=["domain"])["domain"]
            missing, total = missing + column.null_count, total + len(column)
        if missing:
            checked = ", ".join(f"{d} ({v})" for d, v in self.config.verifiers.items() if v != "none")
            raise InputError(
                f"{missing} of {total} rows have no domain, so verify cannot choose a checker for them. "
                f"It verifies: {checked or 'nothing (every verifier is none)'}.",
                "Give the rows a domain: `--domain math` on `curate verify` (or `domain:` on the recipe's "
                "source), or a domain column (`--columns domain=COLUMN`). Rows of a domain without a "
                "verifier (e.g. general) pass as unverified; `--domains math` verifies only math rows.")

    def run(self, batches: Iterable[pa.RecordBatch | pa.Table], ctx: PartContext) -> Iterator[pa.Table]:
        from curate.verifiers.split import merge_split, read_split

        tables = [conform(b) for b in batches]
        table = pa.concat_tables(tables) if tables else None
        if table is None or not table.num_rows:
            return
        split = read_split(ctx.artifacts)
        annotated = merge_split(table, split, lambda rest: self.annotate(rest, ctx), ctx.counters)
        yield judge_verdicts(annotated, self.config.judge, self.config.verifiers, ctx)

    def annotate(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        """Verdicts for every row, then per-problem statistics."""
        rows = table.to_pylist()
        results: list[tuple[str, dict[str, Any]] | None] = [None] * len(rows)
        by_verifier: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            if self.config.domains and row["domain"] not in self.config.domains:
                continue
            by_verifier.setdefault(self.config.verifiers.get(row["domain"] or "", "none"), []).append(i)
        # One after the other: beside each other they would share the cores and push checks past
        # their wall-clock deadlines. A small run's code checks already run beside math (prefetch).
        for verifier, indices in sorted(by_verifier.items()):
            for i, result in zip(indices, self._verify(verifier, [rows[i] for i in indices], ctx)):
                results[i] = result
        return self._with_columns(table, rows, results, ctx)

    def _verify(self, verifier: str, rows: list[dict], ctx: PartContext) -> list[tuple[str, dict]]:
        if verifier == "math":
            from curate.verifiers.math_rows import verify_math_rows

            return verify_math_rows(rows, self._options, workers=self._workers(), deadline=self.config.deadline,
                                    memory_mb=self.config.memory_mb, counters=ctx.counters,
                                    policy=self.config.extract)
        if verifier == "code":
            return self._verify_code(rows, ctx)
        return [("unverified", {"reason": f"no verifier for domain {rows[0]['domain']!r}"})] * len(rows)

    def _code_settings(self):
        from curate.verifiers.code import CodeSettings

        return CodeSettings(sandbox=self.config.sandbox, timeout=self.config.code_timeout,
                            memory_mb=self.config.code_memory_mb, max_output=self.config.max_output_kb * 1024,
                            max_tests=self.config.max_tests, python=self.config.python)

    def _verify_code(self, rows: list[dict], ctx: PartContext) -> list[tuple[str, dict]]:
        """Rows' code verdicts: those `_start_checkers` started, the rest checked now."""
        from curate.verifiers import prefetch
        from curate.verifiers.code import verify_code_rows

        settings = self._code_settings()
        results = prefetch.take(rows, settings)
        missing = [i for i, result in enumerate(results) if result is None]
        if missing:
            checked = verify_code_rows([rows[i] for i in missing], settings, workers=self._workers())
            for i, result in zip(missing, checked):
                results[i] = result
        ctx.counters["sandbox runs"] += sum(r[1].get("runs", 0) for r in results)
        return results

    def _options(self, source: str | None) -> dict[str, Any]:
        options = self.config.source_options.get(source or "")
        return options.model_dump() if options else {}

    def resources(self) -> dict[str, float]:
        """On a cluster, a part holds the cores its checkers use when `checkers` is set (the
        default, one per core of whichever node runs it, cannot be known on the driver)."""
        return {"num_cpus": float(self.config.checkers)} if self.config.checkers else {}

    def _workers(self) -> int:
        return self.config.checkers or os.cpu_count() or 1

    def _with_columns(self, table: pa.Table, rows: list[dict], results, ctx: PartContext) -> pa.Table:
        from curate.evaluation.problem_stats import pass_rate, problem_stats

        groups: dict[str, list[int]] = {}
        for i, result in enumerate(results):
            if result is not None:
                groups.setdefault(rows[i]["id"], []).append(i)
        verdicts = [r[0] if r else rows[i]["verdict"] for i, r in enumerate(results)]
        details = [dumps({"verifier": r[1].pop("verifier", None), **r[1]}) if r else rows[i]["verify_detail"]
                   for i, r in enumerate(results)]
        rates = [row["pass_rate"] for row in rows]
        stats = [row["problem_stats"] for row in rows]
        for indices in groups.values():
            indices.sort(key=lambda i: (rows[i]["sample_idx"] or 0, rows[i]["trace_id"] or ""))
            if all(verdicts[i] == "unverified" for i in indices):
                continue
            vs = [verdicts[i] for i in indices]
            answers = [results[i][1].get("extracted") for i in indices]
            traces = [(rows[i]["reasoning"] or "") + "\n" + (rows[i]["answer"] or "") for i in indices]
            summary = dumps(problem_stats(vs, answers, traces))
            rate = pass_rate(vs)
            for i in indices:
                rates[i], stats[i] = rate, summary
        for verdict in verdicts:
            ctx.counters[f"verdict: {verdict}"] += 1
        columns = {"verdict": pa.array(verdicts, pa.string()), "verify_detail": pa.array(details, pa.string()),
                   "pass_rate": pa.array(rates, pa.float64()), "problem_stats": pa.array(stats, pa.string())}
        for name, column in columns.items():
            table = table.set_column(table.schema.get_field_index(name), name, column)
        return table

    def preview(self, table: pa.Table) -> str:
        """What would be compared for the first rows (extraction only: nothing runs)."""
        from curate.verifiers.preview import preview_rows

        return preview_rows(conform(table).to_pylist(), self.config.verifiers)

    def finalize(self, ctx: PrepareContext) -> None:
        import json

        from curate.verifiers.report import write_report

        prepared = ctx.artifacts / "prepare.json"
        extra = json.loads(prepared.read_text()) if prepared.exists() else {}
        write_report(ctx.inputs, ctx.run_dir, ctx.artifacts, examples=self.config.report_examples, extra=extra)
