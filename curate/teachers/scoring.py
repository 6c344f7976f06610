"""The teacher as a grader: the log-probability of every completion token in its context.

A scoring request's `prompt_token_ids` are the prompt's and the completion's ids together;
`sampling` holds `prompt_logprobs` (the top-K alternatives, 0 for none) and `score_from` (where
the completion starts). The engine runs them as prompts with vLLM's prompt log-probabilities and
one throw-away output token, through the same step loop, windows, too-long check and request
cache as generation (teachers/vllm.py); each response holds one `Sample` with the completion's
ids, the teacher's log-probability of each and, with K > 0, its top-K alternatives, as numpy
arrays (the request cache stores them as bytes, not as JSON numbers). The engine keeps each
request's prompt log-probabilities as the arrays it receives, not as Python lists
(`logprobs.keep_prompt_arrays`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from curate.fingerprint import digest
from curate.teachers.base import Request, Response, Sample
from curate.teachers.openai import OpenAITeacher
from curate.teachers.vllm import VllmTeacher


def scoring_request(key: str, prompt_ids: list[int], completion_ids: list[int], *, top_k: int,
                    teacher: str) -> Request:
    """A sealed request scoring `completion_ids` after `prompt_ids` (hash: teacher, ids, K)."""
    ids = [*prompt_ids, *completion_ids]
    sampling = {"prompt_logprobs": top_k, "score_from": len(prompt_ids)}
    request = Request(key=key, messages=[], sample_idx=[0], sampling=sampling, prompt_token_ids=ids)
    request.payload_hash = digest(teacher, "score", ids, top_k, length=32)
    return request


class VllmScorer(VllmTeacher):
    """The in-process engine, asked for prompt log-probabilities instead of samples."""

    def sampling_params(self, request: Request, limit: int):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(max_tokens=1, temperature=0.0, detokenize=False, flat_logprobs=True,
                              prompt_logprobs=request.sampling["prompt_logprobs"],
                              output_kind=RequestOutputKind.FINAL_ONLY)

    def to_response(self, output, request: Request) -> Response:
        return scored_response(output.prompt_logprobs, request)

    def _add(self, engine, request_id: str, request: Request, on_done, limit: int, by_id) -> bool:
        from curate.teachers.logprobs import keep_prompt_arrays

        added = super()._add(engine, request_id, request, on_done, limit, by_id)
        if added and self.keep_arrays:
            keep_prompt_arrays(engine, request_id)
        return added

    keep_arrays = True  # False: vLLM's own lists (tests compare the two)


class OpenAIScorer(OpenAITeacher):
    """A vLLM OpenAI-compatible server (`vllm serve`) as the scorer: /v1/completions with the
    token ids as the prompt, `max_tokens: 1` and vLLM's `prompt_logprobs` extension. The
    tokenizer (`tokenizer`, else `model`) must be loadable here to render prompts."""

    def tokenizer(self):
        from curate.teachers.render import load_tokenizer

        c = self.config
        return load_tokenizer(c.tokenizer or c.model, c.revision, c.chat_template, c.trust_remote_code)

    def payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        body = {**self.config.extra_body, "model": self.config.model, "prompt": request.prompt_token_ids,
                "max_tokens": 1, "temperature": 0.0,
                "prompt_logprobs": request.sampling["prompt_logprobs"]}
        return "/completions", body

    def parse(self, data: dict[str, Any], request: Request) -> Response:
        choices = data.get("choices") or []
        positions = choices[0].get("prompt_logprobs") if choices else None
        if positions is None:
            return Response(prompt_tokens=None, error_kind="error",
                            error="the server returned no prompt_logprobs (a vLLM server is needed)")
        as_objects = [None if p is None else
                      {int(k): SimpleNamespace(logprob=v["logprob"], rank=v.get("rank")) for k, v in p.items()}
                      for p in positions]
        return scored_response(as_objects, request)


def scored_response(prompt_logprobs, request: Request) -> Response:
    """The teacher's arrays for the completion part of a scoring request."""
    from curate.teachers.logprobs import token_matrix

    start = request.sampling["score_from"]
    ids = list(request.prompt_token_ids or [])
    completion = ids[start:]
    chosen, top_ids, top_lps = token_matrix(prompt_logprobs, completion, first=start,
                                            top_k=request.sampling["prompt_logprobs"])
    if top_lps is not None:  # the dataset stores them as float16: cache and carry half the bytes
        top_lps = top_lps.astype("float16")
    sample = Sample(text=None, finish_reason="scored", completion_tokens=len(completion),
                    token_ids=completion, logprobs=chosen, top_ids=top_ids, top_logprobs=top_lps)
    return Response(prompt_tokens=start, samples=[sample])
