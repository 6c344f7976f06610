"""The `openai` teacher: any OpenAI-compatible server (vllm serve, SGLang, hosted APIs).

Requests run concurrently on one asyncio loop (httpx), at most `max_concurrency` in flight.
Each finished request is handed to `on_done` at once (the stage commits it to the cache).

Failures, by kind:
- 429, 408, 409, 5xx, timeouts, connection errors: retried up to `max_retries` times with
  exponential backoff and jitter (a delay drawn from [d/2, d], d = base * 2^attempt, capped);
  a `Retry-After` header (seconds or an HTTP date) is honoured as a lower bound. When retries
  run out, the part fails with the URL, the attempt count and the last thing seen; finished
  requests are already in the cache, so the rerun resumes.
- 401, 403, 404: fail at once (a wrong key, model or URL fails every request alike).
- other 4xx (400, 413, 422: e.g. a prompt over the server's context): recorded on that
  problem's rows (`finish_reason` = `prompt_too_long` or `error`), not retried.

The API key is read from the environment variable NAMED by `api_key_env` when the client is
made; it is sent only in the Authorization header and never logged, hashed or written.
Both `reasoning` (vLLM >= 0.10) and `reasoning_content` (DeepSeek, older vLLM, SGLang) are read.
Per-sample token counts come from `usage` when a request has one sample, else from each
choice's `token_ids` (vLLM: `extra_body: {return_token_ids: true}`), else they stay null.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections import Counter
from typing import Any

from curate.errors import CurateError
from curate.teachers.base import OnDone, Request, Response, Sample, Teacher
from curate.teachers.config import GenerateConfig

RETRY_STATUS = {408, 409, 429}
FATAL_STATUS = {401, 403, 404}


class OpenAITeacher(Teacher):
    def __init__(self, config: GenerateConfig, *, name: str):
        self.config = config
        self.name = name
        self.renders_locally = config.endpoint == "completions"
        self.stats: Counter = Counter()
        self.delays: list[float] = []  # every retry delay chosen (for stats and tests)

    def render(self, requests: list[Request]) -> None:
        from curate.teachers.render import load_tokenizer, render

        c = self.config
        render(load_tokenizer(c.tokenizer or c.model, c.revision, c.chat_template, c.trust_remote_code),
               requests, with_ids=False)

    def generate(self, requests: list[Request], on_done: OnDone) -> None:
        if requests:
            asyncio.run(self._run_all(requests, on_done))

    async def _run_all(self, requests: list[Request], on_done: OnDone) -> None:
        import httpx

        c = self.config
        limits = httpx.Limits(max_connections=c.max_concurrency, max_keepalive_connections=c.max_concurrency)
        gate = asyncio.Semaphore(c.max_concurrency)
        async with httpx.AsyncClient(base_url=c.base_url.rstrip("/"), headers=self._headers(),
                                     timeout=c.request_timeout, limits=limits) as client:

            async def one(request: Request) -> None:
                async with gate:
                    response = await self.call(client, request)
                on_done(request, response)

            tasks = [asyncio.create_task(one(r)) for r in requests]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()

    def _headers(self) -> dict[str, str]:
        name = self.config.api_key_env
        if not name:
            return {}
        key = os.environ.get(name)
        if not key:
            raise CurateError(f"the environment variable {name} (api_key_env) is not set.",
                              f"export {name}=... before running, or set api_key_env to the variable "
                              "that holds the key.")
        return {"Authorization": f"Bearer {key}"}

    # ---- one request, with retries
    async def call(self, client, request: Request) -> Response:
        import httpx

        c = self.config
        path, body = self.payload(request)
        last = "nothing"
        for attempt in range(c.max_retries + 1):
            wait = None
            try:
                reply = await client.post(path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if reply.status_code == 200:
                    return self.parse(reply.json(), request)
                last = f"HTTP {reply.status_code}: {reply.text[:300]}"
                if reply.status_code in FATAL_STATUS:
                    raise CurateError(f"{c.base_url}{path} answered {last}",
                                      "Check base_url, the model name and the API key variable.")
                if reply.status_code < 500 and reply.status_code not in RETRY_STATUS:
                    return rejected(reply.status_code, reply.text)
                wait = retry_after(reply.headers.get("retry-after"))
            if attempt == c.max_retries:
                break
            self.stats["retries"] += 1
            await asyncio.sleep(self.backoff(attempt, wait))
        self.stats["failed_requests"] += 1
        raise CurateError(
            f"{c.base_url}{path} failed after {c.max_retries + 1} attempts; last seen: {last}",
            "Check that the server is up and reachable; finished requests are cached, so rerunning "
            "resumes. Raise max_retries or lower max_concurrency for a rate-limited API.")

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential backoff with jitter; never shorter than the server's Retry-After."""
        c = self.config
        ceiling = min(c.backoff_max, c.backoff_base * 2 ** attempt)
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        self.delays.append(delay)
        return delay

    def parse(self, data: dict[str, Any], request: Request) -> Response:
        return parse_reply(data, request, chat=self.config.endpoint == "chat")

    def payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        """(path, JSON body) for a request."""
        c = self.config
        body: dict[str, Any] = {"model": c.model, **request.sampling, **c.extra_body}
        if c.endpoint == "completions":
            body["prompt"] = request.prompt_text
            return "/completions", body
        messages = list(request.messages)
        if request.prefill:  # vLLM continues a final assistant message
            messages.append({"role": "assistant", "content": request.prefill})
            body.update(continue_final_message=True, add_generation_prompt=False)
        body["messages"] = messages
        return "/chat/completions", body


def parse_reply(data: dict[str, Any], request: Request, *, chat: bool) -> Response:
    """A chat or completions reply -> Response (samples in choice order)."""
    choices = sorted(data.get("choices") or [], key=lambda ch: ch.get("index", 0))
    usage = data.get("usage") or {}
    samples = []
    for choice in choices:
        message = choice.get("message") or {}
        text = message.get("content") if chat else choice.get("text")
        reasoning = (message.get("reasoning") or message.get("reasoning_content")) if chat else None
        tokens = len(choice["token_ids"]) if choice.get("token_ids") is not None else None
        if tokens is None and len(choices) == 1:
            tokens = usage.get("completion_tokens")
        samples.append(Sample(text=text, reasoning=reasoning, finish_reason=choice.get("finish_reason"),
                              completion_tokens=tokens))
    if len(samples) != len(request.sample_idx):
        return Response(prompt_tokens=usage.get("prompt_tokens"), error_kind="error",
                        error=f"asked for {len(request.sample_idx)} samples, got {len(samples)}")
    return Response(prompt_tokens=usage.get("prompt_tokens"), samples=samples)


def rejected(status: int, text: str) -> Response:
    """A 4xx the server will not change its mind about, recorded on the rows."""
    lowered = text.lower()
    too_long = any(s in lowered for s in ("context length", "maximum context", "too long", "max_model_len"))
    return Response(prompt_tokens=None, error=f"HTTP {status}: {text[:500]}",
                    error_kind="prompt_too_long" if too_long else "error")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
