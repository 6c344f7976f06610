"""`score`: the teacher grades a student's completions token by token (on-policy distillation).

For each row holding a prompt (`problem`, rendered like `generate` renders it: system prompt,
user template, prefill, the teacher's chat template) and a completion (`token_ids` from
`generate` with `logprobs`, else the text of `reasoning` and `answer`, tokenized here), the
teacher computes the log-probability of every completion token in its context through vLLM's
prompt log-probabilities (the in-process engine, or a vLLM server through its `prompt_logprobs`
extension of /v1/completions: `teacher: openai`). Written per row: `teacher_logprobs`,
`advantages` (teacher minus student log-probability, the on-policy distillation reward; null
without the student's `token_logprobs`), `reverse_kl` (the sequence's sum of student minus teacher log-probability, a
one-sample estimate of KL(student || teacher)), `teacher_top_ids` / `teacher_top_logprobs` with
`logprobs: K`, and `score_detail` (JSON: scorer, tokens, means, storage).

Teacher and student must share a tokenizer: the row's `tokenizer` identity (written by
generate) is compared with the teacher's, and a mismatch stops the stage naming both. Sequences
longer than the context are recorded (`score_detail.error`), not sent; rows without a completion
pass through unscored. The request cache, resume and progress are generate's: each scored
sequence is committed moments after it finishes (a helper thread writes the cache while this
one waits for the engine), so a rerun scores only what is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.errors import CurateError
from curate.fingerprint import digest
from curate.schema import LOGPROB_STORAGE, conform, dumps, join_reasoning
from curate.stages.base import PartContext, Stage, domain_split
from curate.stages.generate import Generate
from curate.teachers.base import Request, Response, chunks
from curate.teachers.config import GenerateConfig

EMIT_ROWS = 512
PLAN_COLUMNS = ["id", "sample_idx", "trace_id", "problem", "system", "extra", "reasoning", "answer",
                "prompt_tokens", "tokenizer", "token_ids", "token_logprobs"]
NUMPY = {pa.float32(): np.float32, pa.float16(): np.float16, pa.int32(): np.int32}
SCORE_COLUMNS = {"teacher_logprobs": pa.float32(), "advantages": pa.float32(),
                 "teacher_top_ids": pa.int32(), "teacher_top_logprobs": pa.float16()}


class ScoreConfig(GenerateConfig):
    """The teacher and prompt fields of `generate` (sampling fields are not used)."""

    logprobs: int | None = Field(
        0, ge=0, le=20, description="Top-K alternatives the teacher records per completion token "
        "(teacher_top_ids, teacher_top_logprobs); 0: only the completion token's log-probability.")


class Score(Generate):
    """The teacher's log-probability of every completion token; advantages and reverse KL."""

    name = "score"
    version = 1
    Config = ScoreConfig

    def check_requirements(self) -> None:
        """vllm: the in-process engine; openai: a vLLM server (prompt_logprobs is vLLM's)."""
        from curate.teachers import require_backend

        require_backend(self.config.teacher, f"scoring with the {self.config.teacher} teacher")

    def run(self, batches: Iterable[pa.RecordBatch | pa.Table], ctx: PartContext) -> Iterator[pa.Table]:
        inside, outside = domain_split(batches, self.config.domains)
        if outside.num_rows:
            yield outside
        if inside.num_rows:
            yield from self._score(inside, ctx)

    # ---- the part
    def _score(self, table: pa.Table, ctx: PartContext) -> Iterator[pa.Table]:
        from curate.teachers.cache import CacheWriter, RequestCache, unique_missing
        from curate.teachers.progress import Progress

        scorer = make_scorer(self.config, lock_dir=ctx.scratch.parent if ctx.scratch else None)
        rows = table.select(PLAN_COLUMNS).to_pylist()  # not the bulky top-K columns
        requests = self.plan(rows, scorer)
        live = [r for r in requests if r is not None]
        cache = RequestCache(ctx.scratch / "requests.sqlite" if ctx.scratch else None)
        try:
            done = cache.done_keys(live)
            missing = unique_missing(live, done)
            if missing:
                scorer.start()
            progress = Progress(total=len(live), cached=len(live) - len(missing), gpus=scorer.gpus(),
                                desc=f"score part {ctx.part}")

            fresh: dict[tuple[str, str], Response] = {}  # this run's responses: not read back
            writer = CacheWriter(cache)  # committed off this thread, moments after each finishes

            def on_done(request: Request, response: Response) -> None:
                writer.put(request, response)
                fresh[(request.key, request.payload_hash)] = response
                progress.update(response)

            started = time.monotonic()
            try:
                scorer.generate(missing, on_done)
            finally:
                writer.close()
            engine_seconds = time.monotonic() - started
            progress.close()
            ctx.counters.update({"rows": len(rows), "sequences": len(live), "sequences_cached": len(done),
                                 "sequences_sent": len(missing), "unscorable": len(rows) - len(live)})
            yield from self._emit_scored(table, rows, requests, _Responses(cache, fresh), scorer.name, ctx)
            summary = progress.summary()
            ctx.stats.update(elapsed_seconds=summary["elapsed_seconds"], gpu_hours=summary["gpu_hours"],
                             scored_tokens_per_s=summary["output_tokens_per_s"], scorer=scorer.name,
                             engine_seconds=round(engine_seconds, 3))
            device, count = scorer.devices()
            ctx.stats.update(device=device, devices=count)
        finally:
            cache.close()

    def plan(self, rows: list[dict[str, Any]], scorer) -> list[Request | None]:
        """One scoring request per row (None: nothing to score); checks the tokenizer first."""
        from curate.teachers.render import render
        from curate.teachers.scoring import scoring_request
        from curate.teachers.tokenizer_id import check_same, identity

        c = self.config
        tokenizer = scorer.tokenizer()
        teacher_id = identity(tokenizer, name=_short(c.tokenizer or c.model), revision=c.revision)
        for row in rows:
            if row.get("tokenizer"):
                check_same(json.loads(row["tokenizer"]), teacher_id)
        first: dict[str, Request] = {}
        for row in rows:
            if row["id"] not in first and row.get("problem") is not None:
                first[row["id"]] = self.requests_for(row, scorer.name)[0]
        render(tokenizer, list(first.values()))  # one batched tokenizer call
        prompts = {key: request.prompt_token_ids for key, request in first.items()}
        out: list[Request | None] = []
        for row in rows:
            completion = self.completion_ids(row, tokenizer)
            prompt = prompts.get(row["id"])
            if prompt is None or not completion:
                out.append(None)
                continue
            _check_prompt(row, prompt)
            key = row.get("trace_id") or digest(row["id"], row.get("sample_idx"), length=32)
            out.append(scoring_request(key, prompt, completion, top_k=c.logprobs or 0, teacher=scorer.name))
        return out

    def completion_ids(self, row: dict[str, Any], tokenizer) -> list[int] | None:
        """The student's token ids, or the completion text tokenized (without the prefill)."""
        if row.get("token_ids") is not None:
            return list(row["token_ids"])
        if row.get("reasoning") is None and row.get("answer") is None:
            return None
        text = join_reasoning(row.get("reasoning"), row.get("answer"))
        prefill = self.config.prefill or ""
        text = text[len(prefill):] if prefill and text.startswith(prefill) else text
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    # ---- output rows
    def _emit_scored(self, table: pa.Table, rows, requests, cache, scorer: str,
                     ctx: PartContext) -> Iterator[pa.Table]:
        """The input rows with the score columns set, built from numpy buffers per chunk."""
        for indices in chunks(list(range(len(rows))), EMIT_ROWS):
            live = [requests[i] for i in indices if requests[i] is not None]
            responses = iter(cache.get_many(live))
            results = [self.scored(rows[i], next(responses) if requests[i] is not None else None,
                                   requests[i] is not None, scorer, ctx) for i in indices]
            chunk = table.slice(indices[0], len(indices))
            columns = {name: (nested_column if name.startswith("teacher_top") else list_column)(
                [r[name] for r in results], dtype) for name, dtype in SCORE_COLUMNS.items()}
            columns["reverse_kl"] = pa.array([r["reverse_kl"] for r in results], pa.float64())
            columns["score_detail"] = pa.array([r["score_detail"] for r in results], pa.string())
            for name, array in columns.items():
                chunk = chunk.set_column(chunk.schema.get_field_index(name), name, array)
            yield conform(chunk)

    def scored(self, row: dict[str, Any], response: Response | None, planned: bool, scorer: str,
               ctx: PartContext) -> dict[str, Any]:
        """One row's score columns (numpy arrays; None where not scored)."""
        out: dict[str, Any] = dict.fromkeys([*SCORE_COLUMNS, "reverse_kl"])
        if not planned or response is None or response.error:
            reason = ("no prompt or completion" if not planned
                      else response.error if response else "no response")
            kind = "no prompt or completion" if not planned else (response.error_kind if response else "error")
            ctx.counters[f"rows_unscored: {kind}"] += 1
            out["score_detail"] = dumps({"scorer": scorer, "error": reason})
            return out
        sample = response.samples[0]
        teacher = np.asarray(sample.logprobs, dtype=np.float32)
        detail = {"scorer": scorer, "tokens": len(teacher), "top_k": self.config.logprobs or 0,
                  "teacher_logprob_mean": _mean(teacher), "storage": LOGPROB_STORAGE}
        out.update(teacher_logprobs=teacher, teacher_top_ids=sample.top_ids, teacher_top_logprobs=sample.top_logprobs)
        student = row.get("token_logprobs")
        if student is not None and len(student) == len(teacher):
            advantages = teacher - np.asarray(student, dtype=np.float32)
            out.update(advantages=advantages, reverse_kl=float(-advantages.sum(dtype=np.float64)))
            detail.update(advantage_mean=_mean(advantages),
                          advantage_min=float(advantages.min()) if len(advantages) else None,
                          reverse_kl_per_token=_mean(-advantages))
        else:
            ctx.counters["rows_scored_without_student_logprobs"] += 1
        ctx.counters["rows_scored"] += 1
        ctx.counters["tokens_scored"] += len(teacher)
        out["score_detail"] = dumps(detail)
        return out

    preview = Stage.preview  # no --dry-run (generate's shows sampling prompts)


class _Responses:
    """Responses in request order: this run's from memory, earlier runs' from the cache."""

    def __init__(self, cache, fresh: dict[tuple[str, str], Response]):
        self.cache, self.fresh = cache, fresh

    def get_many(self, requests: list[Request]) -> Iterator[Response | None]:
        for request in requests:
            got = self.fresh.get((request.key, request.payload_hash))
            yield got if got is not None else next(self.cache.get_many([request]))


def make_scorer(config: ScoreConfig, *, lock_dir=None):
    """The vLLM scorer for the config (the tiny model built first when asked)."""
    from curate.teachers import make_teacher
    from curate.teachers.scoring import OpenAIScorer, VllmScorer

    teacher = make_teacher(config, lock_dir=lock_dir)  # resolves the model path and the name
    if config.teacher == "openai":
        return OpenAIScorer(teacher.config, name=teacher.name)
    return VllmScorer(teacher.config, name=teacher.name, lock_dir=lock_dir)


def list_column(values: list, dtype: pa.DataType) -> pa.Array:
    """list<dtype> from per-row 1-d arrays (None: a null row), through one buffer."""
    lengths = np.array([0 if v is None else len(v) for v in values], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    present = [np.asarray(v).reshape(-1) for v in values if v is not None]
    flat = np.concatenate(present) if present else np.zeros(0)
    mask = pa.array(np.array([v is None for v in values]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.astype(NUMPY[dtype], copy=False)),
                                    mask=mask, type=pa.list_(dtype))


def nested_column(values: list, dtype: pa.DataType) -> pa.Array:
    """list<list<dtype>> from per-row [T, K] matrices (None: a null row)."""
    rows = [None if v is None else np.asarray(v).reshape(len(v), -1) for v in values]
    inner_lengths = np.concatenate([np.full(len(m), m.shape[1], np.int32) for m in rows if m is not None] or
                                   [np.zeros(0, np.int32)])
    inner_offsets = np.concatenate([[0], np.cumsum(inner_lengths)]).astype(np.int32)
    present = [m.reshape(-1) for m in rows if m is not None]
    flat = np.concatenate(present) if present else np.zeros(0)
    inner = pa.ListArray.from_arrays(pa.array(inner_offsets), pa.array(flat.astype(NUMPY[dtype], copy=False)),
                                     type=pa.list_(dtype))
    outer_lengths = np.array([0 if m is None else len(m) for m in rows], dtype=np.int32)
    outer_offsets = np.concatenate([[0], np.cumsum(outer_lengths)]).astype(np.int32)
    mask = pa.array(np.array([m is None for m in rows]))
    return pa.ListArray.from_arrays(pa.array(outer_offsets), inner, mask=mask, type=pa.list_(pa.list_(dtype)))


def _check_prompt(row: dict[str, Any], prompt: list[int]) -> None:
    """The student's token ids continue its own prompt: a prompt rendered differently here
    would score them in another context."""
    if row.get("token_ids") is None or row.get("prompt_tokens") in (None, len(prompt)):
        return
    raise CurateError(
        f"score: row {row['id']} (sample {row.get('sample_idx')}): the prompt rendered here has "
        f"{len(prompt)} tokens, the student's had {row['prompt_tokens']}.",
        "Give score the same system_prompt, user_template, prefill and chat_template as the "
        "student's generate stage.")



def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean(dtype=np.float64)), 6) if len(values) else None


def _short(name: str) -> str:
    from pathlib import Path

    path = Path(name).expanduser()
    return path.name if path.is_absolute() or path.exists() else name
