"""An LLM judge: a fixed, versioned rubric sent through a teacher backend, its reply parsed.

Used where a symbolic check cannot decide (verify: is this answer the gold?; decontam: is this
row a rephrased benchmark item?). A `Rubric` is fixed text with a name and version; its hash
(`prompt_hash`) is recorded beside every verdict, so a changed rubric is visible in the data.
Requests go through the same teachers (`vllm` in-process or an `openai`-compatible server) and
the same request cache as `generate`: each finished request is committed as it completes, so a
crash loses only the requests in flight, and a rerun sends nothing already answered. Identical
questions (same rubric and fields) are asked once.

`parse_verdict` reads real-looking replies: `<think>` blocks are dropped, then, in order, a JSON
object with a verdict-like key, the last `Verdict:`-style line, the last emphasised label
(`**CORRECT**`, `\\boxed{yes}`), a reply whose first or last line is a bare label. Anything
else is unparsed (None), never guessed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from curate.errors import MissingExtra
from curate.fingerprint import digest
from curate.teachers.base import Request, Response
from curate.teachers.config import GenerateConfig

RAW_KEEP = 4000  # characters of a reply kept in the record (head and tail beyond that)


@dataclass(frozen=True)
class Rubric:
    """A fixed judge prompt; `{name}` fields are filled per question."""

    name: str
    version: int
    system: str
    user: str

    @property
    def prompt_hash(self) -> str:
        return digest(self.name, self.version, self.system, self.user, length=16)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def messages(self, fields: dict[str, str]) -> list[dict[str, str]]:
        # one pass, so a `{gold}` inside a problem's own text is never filled in
        text = re.sub(r"\{(\w+)\}", lambda m: fields.get(m.group(1), m.group(0)), self.user)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]


ANSWER_RUBRIC = Rubric(
    name="answer-equivalence", version=1,
    system="You grade answers. Decide whether the candidate's final answer means the same as the "
    "reference answer for this problem. Ignore formatting, units written out, equivalent forms and "
    "the working; judge only the final answer. A hedged answer or several different final answers "
    "is not correct.",
    user="Problem:\n{problem}\n\nReference answer:\n{gold}\n\nCandidate's final answer:\n{answer}\n\n"
    "Is the candidate's final answer correct? End with one line: `Verdict: YES` or `Verdict: NO`.")

PARAPHRASE_RUBRIC = Rubric(
    name="same-problem", version=1,
    system="You check training data for benchmark leaks. Decide whether two texts pose the same "
    "problem, possibly rephrased, reformatted or translated: the same task with the same givens "
    "and the same answer. A problem on the same topic but with a different question or different "
    "data is not the same problem.",
    user="Text A (training data):\n{text}\n\nText B (benchmark item):\n{item}\n\n"
    "Is text A the same problem as text B, rephrased? End with one line: `Verdict: YES` or `Verdict: NO`.")

# ---------------------------------------------------------------- config

#: GenerateConfig fields that make sense for a judge (no prompt fields: the rubric is fixed)
TEACHER_FIELDS = (
    "teacher", "model", "revision", "teacher_name", "top_p", "seed", "stop",
    "tensor_parallel_size", "max_model_len", "gpu_memory_utilization", "enable_prefix_caching", "chat_template",
    "dtype", "quantization", "enforce_eager", "trust_remote_code", "cpu_kv_cache_gb", "max_inflight",
    "engine_kwargs", "build_tiny_model", "base_url", "api_key_env", "endpoint", "tokenizer",
    "max_concurrency", "max_retries", "backoff_base", "backoff_max", "request_timeout", "extra_body",
)


class _JudgeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    max_tokens: int = Field(1024, ge=1, description="Maximum tokens of a judge reply (reasoning included).")
    temperature: float = Field(0.0, ge=0, description="Judge sampling temperature (0: greedy).")
    max_chars: int = Field(
        6000, ge=100, description="Each text sent to the judge is cut to this many characters (long "
        "answers keep their end, where the final answer is).")

    @model_validator(mode="after")
    def _backend_installed(self):
        """A judge whose teacher is not installed fails when the recipe is validated."""
        import importlib.util

        module, extra = {"vllm": ("vllm", "vllm"), "openai": ("httpx", "openai")}[getattr(self, "teacher")]
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(module, extra, f"the {getattr(self, 'teacher')} judge")
        return self

    def generate_config(self) -> GenerateConfig:
        """The teacher options as the generate stage's config (one sample, greedy by default)."""
        fields = {k: getattr(self, k) for k in TEACHER_FIELDS}
        return GenerateConfig(**fields, n=1, max_tokens=self.max_tokens, temperature=self.temperature)


JudgeConfig = create_model(
    "JudgeConfig", __base__=_JudgeBase, __doc__="The judge's teacher: the generate stage's teacher options.",
    **{name: (GenerateConfig.model_fields[name].annotation, GenerateConfig.model_fields[name])
       for name in TEACHER_FIELDS})

# ---------------------------------------------------------------- parsing

POSITIVE = {"yes", "y", "correct", "true", "equivalent", "same", "pass", "match", "matches", "right",
            "paraphrase", "identical"}
NEGATIVE = {"no", "n", "incorrect", "false", "wrong", "different", "fail", "mismatch", "inequivalent",
            "not_equivalent", "not_correct", "not_same", "not_the_same", "not_a_match", "not_a_paraphrase"}
VERDICT_KEYS = ("verdict", "correct", "is_correct", "same_problem", "same", "equivalent", "judgement",
                "judgment", "decision", "answer", "result")
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
#: "Verdict: X"-style keys, the strong ones first ("answer:" also labels echoed answers)
_KEYS = (re.compile(r"\b(?:final\s+)?(?:verdict|judge?ment|decision|grade)\s*\**\s*[:：=]", re.I),
         re.compile(r"\b(?:final\s+)?(?:answer|result)\s*\**\s*[:：=]", re.I))
_EMPH = re.compile(r"\*\*\s*([A-Za-z][A-Za-z _]{0,24}?)\s*[.!]?\s*\*\*|\\boxed\{\s*(?:\\text\{)?\s*([A-Za-z ]{1,24})\}")


def _label(value: str) -> bool | None:
    """YES/NO-like text -> True/False; None when it is neither (or says both)."""
    words = re.findall(r"[a-z]+", value.lower())[:4]
    if not words:
        return None
    if words[0] == "not":
        return False if len(words) > 1 else None
    for size in (3, 2, 1):
        head = "_".join(words[:size])
        if head in NEGATIVE:
            return False
        if head in POSITIVE:
            return None if (len(words) > 1 and words[1] == "or") else True
    return None


def _from_json(text: str) -> bool | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{\s*\"", text):  # where a JSON object could start
        try:
            data, _end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        lowered = {str(k).lower(): v for k, v in data.items()} if isinstance(data, dict) else {}
        for key in VERDICT_KEYS:
            value = lowered.get(key)
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and _label(value) is not None:
                return _label(value)
    return None


def strip_thinking(text: str) -> str:
    """The reply without its reasoning: `<think>…</think>` blocks, or all before a lone `</think>`."""
    text = _THINK.sub("", text)
    if "</think>" in text.lower():
        text = text[text.lower().rindex("</think>") + len("</think>"):]
    return text.strip()


def parse_verdict(reply: str | None) -> tuple[bool | None, str]:
    """(decision, rule that read it); (None, "unparsed") when no rule finds a clear label."""
    text = strip_thinking(reply or "")
    if not text:
        return None, "unparsed"
    found = _from_json(text)
    if found is not None:
        return found, "json"
    for key in _KEYS:
        for match in reversed(list(key.finditer(text))):
            found = _label(text[match.end():].split("\n", 1)[0])
            if found is not None:
                return found, "verdict_line"
    for match in reversed(list(_EMPH.finditer(text))):
        found = _label(match.group(1) or match.group(2))
        if found is not None:
            return found, "emphasis"
    lines = [line.strip(" *_`#>.") for line in text.splitlines() if line.strip(" *_`#>.")]
    for rule, line in (("first_line", lines[0]), ("last_line", lines[-1])):
        if len(line.split()) <= 3:
            found = _label(line)
            if found is not None:
                return found, rule
    return None, "unparsed"


# ---------------------------------------------------------------- asking


@dataclass
class Judgement:
    """The judge's answer to one question."""

    decision: bool | None  # None: no clear verdict (see reason)
    reason: str  # "judged", "judge_unparsed" or "judge_error: ..."
    rule: str | None
    raw: str | None
    model: str
    rubric: Rubric

    def record(self) -> dict[str, Any]:
        """What is stored beside the verdict (verify_detail, decontam hit records)."""
        return {"model": self.model, "rubric": self.rubric.label, "prompt_hash": self.rubric.prompt_hash,
                "decision": self.decision, "reason": self.reason, "parsed_by": self.rule,
                "raw": _short(self.raw)}


def cut(text: str | None, limit: int, *, keep: str = "head") -> str:
    """Text cut to `limit` characters, keeping its head or its tail."""
    text = text or ""
    if len(text) <= limit:
        return text
    return "…" + text[-limit:] if keep == "tail" else text[:limit] + "…"


def _short(raw: str | None) -> str | None:
    if raw is None or len(raw) <= RAW_KEEP:
        return raw
    return raw[:1000] + f" …[{len(raw) - RAW_KEEP} characters left out]… " + raw[-(RAW_KEEP - 1000):]


class Judge:
    """Ask one rubric's questions through a teacher, with the request cache at `cache_path`."""

    def __init__(self, config: _JudgeBase, rubric: Rubric, *, cache_path: Path | None,
                 lock_dir: Path | None = None):
        self.config = config.generate_config()
        self.rubric = rubric
        self.cache_path = cache_path
        self.lock_dir = lock_dir

    def ask(self, questions: list[dict[str, str]], counters: Counter | None = None) -> list[Judgement]:
        """One judgement per question (a dict of the rubric's fields), in order."""
        from curate.teachers import make_teacher
        from curate.teachers.cache import RequestCache, unique_missing

        counters = counters if counters is not None else Counter()
        if not questions:
            return []
        teacher = make_teacher(self.config, lock_dir=self.lock_dir)
        requests = [self._request(q) for q in questions]
        if teacher.renders_locally:
            teacher.render(requests)
        for request in requests:
            request.seal(teacher.name)
        cache = RequestCache(self.cache_path)
        try:
            done = cache.done_keys(requests)
            missing = unique_missing(requests, done)
            if missing:
                teacher.start()

            def on_done(request: Request, response: Response) -> None:
                cache.put(request, response)
                cache.commit()

            teacher.generate(missing, on_done)
            counters.update({"judge_questions": len(requests), "judge_requests_sent": len(missing),
                             "judge_requests_cached": len(done)})
            out = [self._judgement(r, teacher.name) for r in cache.get_many(requests)]
        finally:
            cache.close()
        for judgement in out:
            counters[f"judge: {judgement.reason.split(':')[0]}"] += 1
        return out

    def _request(self, fields: dict[str, str]) -> Request:
        c = self.config
        sampling = {"n": 1, "max_tokens": c.max_tokens, "temperature": c.temperature, "top_p": c.top_p,
                    "seed": c.seed, "stop": c.stop}
        sampling = {k: v for k, v in sampling.items() if v is not None}
        key = digest(self.rubric.prompt_hash, fields, length=32)
        return Request(key=key, messages=self.rubric.messages(fields), sample_idx=[0], sampling=sampling)

    def _judgement(self, response: Response | None, model: str) -> Judgement:
        if response is None or response.error or not response.samples:
            error = response.error if response is not None else "no response"
            return Judgement(None, f"judge_error: {error or 'no sample'}", None, None, model, self.rubric)
        sample = response.samples[0]
        raw = sample.text if sample.text else sample.reasoning
        decision, rule = parse_verdict(raw)
        reason = "judged" if decision is not None else "judge_unparsed"
        return Judgement(decision, reason, rule if decision is not None else None, raw, model, self.rubric)

