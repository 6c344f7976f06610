"""What every teacher speaks: requests in, responses out, one callback per finished request.

A `Request` is one call to the teacher for one problem: a rendered prompt (chat messages, and
the template-rendered text when a tokenizer is at hand), the sample indices it covers (all n,
or one when the server cannot do n), and the sampling parameters with a per-request seed.
Its `payload_hash` covers everything that determines the answer (teacher, prompt, sampling),
so the request cache never hands back an answer to a different question.

Teachers call `on_done(request, response)` as each request finishes; the stage writes it to
the cache right there, so a crash loses only the requests in flight.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from curate.fingerprint import digest

FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Request:
    """One call to the teacher (one problem; `len(sample_idx)` samples)."""

    key: str  # the problem's row id
    messages: list[dict[str, str]]
    sample_idx: list[int]
    sampling: dict[str, Any]  # includes the per-request seed
    prompt_text: str | None = None  # chat template applied (+ prefill), when rendered locally
    prompt_token_ids: list[int] | None = None
    prefill: str | None = None
    payload_hash: str = ""

    def seal(self, teacher: str) -> Request:
        """Fix the payload hash from what determines the answer."""
        prompt = self.prompt_text if self.prompt_text is not None else self.messages
        self.payload_hash = digest(teacher, prompt, self.prefill or "", self.sampling,
                                   self.sample_idx, length=32)
        return self


@dataclass
class Sample:
    text: str | None
    finish_reason: str | None
    completion_tokens: int | None = None
    reasoning: str | None = None  # a separate reasoning field from the server
    # with `logprobs: K` (generate) or from `score`: per token, its id, its log-probability
    # and the model's top-K alternatives
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    top_ids: list[list[int]] | None = None
    top_logprobs: list[list[float]] | None = None


@dataclass
class Response:
    """The teacher's answer to one request; `error` set means no samples (recorded per row)."""

    prompt_tokens: int | None
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None  # finish_reason recorded for error rows, e.g. prompt_too_long

    def to_json(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "error": self.error, "error_kind": self.error_kind,
                "samples": [{k: _pack(v) for k, v in s.__dict__.items()} for s in self.samples]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Response:
        return cls(prompt_tokens=data.get("prompt_tokens"), error=data.get("error"),
                   error_kind=data.get("error_kind"),
                   samples=[Sample(**{k: _unpack(v) for k, v in s.items()}) for s in data.get("samples", [])])


def _pack(value: Any) -> Any:
    """A numpy array as {"ndarray": dtype, "shape", "b64": its bytes}: exact, and far faster to
    write and read than JSON numbers (score's per-token arrays)."""
    if hasattr(value, "dtype") and hasattr(value, "tobytes"):
        import base64

        return {"ndarray": str(value.dtype), "shape": list(value.shape),
                "b64": base64.b64encode(value.tobytes()).decode("ascii")}
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict) and "ndarray" in value:
        import base64

        import numpy as np

        raw = base64.b64decode(value["b64"])
        return np.frombuffer(raw, dtype=value["ndarray"]).reshape(value["shape"])
    return value


OnDone = Callable[[Request, Response], None]


class Teacher:
    """Base of the teachers: `name` (model@revision) and `generate`."""

    name: str = ""
    #: True when prompts are rendered with the chat template here (needs a tokenizer)
    renders_locally: bool = True

    def start(self) -> None:
        """Get ready to generate (start an engine); called only when there is work to send."""

    def render(self, requests: list[Request]) -> None:
        """Fill `prompt_text` / `prompt_token_ids` where this teacher needs them."""

    def generate(self, requests: list[Request], on_done: OnDone) -> None:
        """Run every request; call `on_done` once per request as it finishes."""
        raise NotImplementedError

    def gpus(self) -> int:
        """GPUs this teacher holds (for GPU-hour accounting; 0 for servers and CPU)."""
        return 0

    def devices(self) -> tuple[str, int]:
        """What the engine computes on, for cost accounting: ("gpu", n), ("cpu", cores), or
        ("server", 0) when a remote server does the work (its cost is not measured here)."""
        return ("server", 0)


def fill_template(template: str, row: dict[str, Any], extra: dict[str, Any]) -> str:
    """Replace `{name}` by the row's column or extra key `name`; other braces stay literal.

    >>> fill_template("Solve: {problem} Put it in \\\\boxed{}.", {"problem": "1+1"}, {})
    'Solve: 1+1 Put it in \\\\boxed{}.'
    """
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in row:
            return "" if row[name] is None else str(row[name])
        if name in extra and extra[name] is not None:
            got = extra[name]
            return got if isinstance(got, str) else digest_free_json(got)
        return match.group(0)

    return FIELD.sub(value, template)


def digest_free_json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def template_fields(template: str) -> list[str]:
    return FIELD.findall(template)


def request_seed(base: int | None, key: str, first_sample: int) -> int | None:
    """A per-request seed from the base seed and the problem: order- and part-independent."""
    if base is None:
        return None
    return int(digest(base, key, first_sample, length=8), 16) & 0x7FFFFFFF


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
