"""The openai teacher: retries and backoff against a scripted local server, then a real vLLM server."""

from __future__ import annotations

import json

import pytest
import vllm_fixtures

from curate.errors import CurateError
from curate.schema import from_rows
from curate.stages.base import run_stage_on
from curate.stages.generate import Generate
from curate.teachers.openai import OpenAITeacher, retry_after
from tests.helpers.chat_server import ChatServer

api_server = vllm_fixtures.api_server  # session fixtures (real vLLM server, tiny model)
tiny_model = vllm_fixtures.tiny_model


def chat_reply(n: int = 1, *, field: str = "reasoning_content") -> dict:
    choices = [{"index": i, "finish_reason": "stop",
                "message": {"role": "assistant", "content": f"answer {i}", field: f"thought {i}"}}
               for i in range(n)]
    return {"choices": choices, "usage": {"prompt_tokens": 11, "completion_tokens": 7 * n}}


class Scripted(ChatServer):
    """A chat server answering from a script: [(status, headers, body)], the last one repeats."""

    def __init__(self, script: list[tuple[int, dict, dict | str]]):
        self.script = list(script)
        super().__init__(lambda body: self.script.pop(0) if len(self.script) > 1 else self.script[0])


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        servers.append(Scripted(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def stage(url: str, **options) -> Generate:
    defaults = {"teacher": "openai", "model": "teacher-x", "base_url": url, "backoff_base": 0.01,
                "backoff_max": 0.05, "max_retries": 2}
    return Generate(**{**defaults, **options})


PROBLEM = [{"id": "p0", "problem": "What is 2 + 2?", "domain": "math"}]


def test_retries_429_and_500_honours_retry_after_then_keeps_the_answer(scripted, tmp_path):
    server = scripted([(429, {"Retry-After": "1"}, {"error": "slow down"}),
                       (500, {}, {"error": "boom"}), (200, {}, chat_reply(2))])
    generate = stage(server.url, n=2, max_retries=3)
    teacher = OpenAITeacher(generate.config, name="teacher-x")
    requests = generate.requests_for(PROBLEM[0], teacher.name)
    done = []
    teacher.generate(requests, lambda request, response: done.append(response))
    assert len(server.seen) == 3 and teacher.stats["retries"] == 2
    assert teacher.delays[0] >= 1.0  # Retry-After: 1 is a floor
    assert teacher.delays[1] <= 0.02  # then exponential from backoff_base
    assert [s.reasoning for s in done[0].samples] == ["thought 0", "thought 1"]
    assert server.seen[0]["body"]["n"] == 2 and server.seen[0]["body"]["model"] == "teacher-x"


def test_stage_reads_reasoning_and_reasoning_content(scripted, tmp_path):
    for field in ("reasoning", "reasoning_content"):
        server = scripted([(200, {}, chat_reply(1, field=field))])
        out, _ctx = run_stage_on(stage(server.url), from_rows(PROBLEM), tmp_path / field)
        row = out.to_pylist()[0]
        assert (row["reasoning"], row["answer"], row["finish_reason"]) == ("thought 0", "answer 0", "stop")
        assert (row["prompt_tokens"], row["completion_tokens"], row["teacher"]) == (11, 7, "teacher-x")


def test_gives_up_after_retries_naming_attempts_and_last_status(scripted, tmp_path):
    server = scripted([(503, {}, "overloaded")])
    with pytest.raises(CurateError, match=r"failed after 3 attempts; last seen: HTTP 503: overloaded"):
        run_stage_on(stage(server.url), from_rows(PROBLEM), tmp_path)
    assert len(server.seen) == 3


def test_unreachable_server(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CurateError, match="last seen: ConnectError"):
        run_stage_on(stage(f"http://127.0.0.1:{port}/v1", max_retries=1), from_rows(PROBLEM), tmp_path)


def test_bad_request_is_recorded_on_the_rows_and_auth_failure_stops(scripted, tmp_path):
    server = scripted([(400, {}, {"error": "This model's maximum context length is 8 tokens"})])
    out, _ctx = run_stage_on(stage(server.url, n=3), from_rows(PROBLEM), tmp_path / "a")
    assert out["finish_reason"].to_pylist() == ["prompt_too_long"] * 3 and len(server.seen) == 1
    assert "maximum context length" in json.loads(out["extra"][0].as_py())["generate_error"]
    denied = scripted([(401, {}, {"error": "bad key"})])
    with pytest.raises(CurateError, match="401"):
        run_stage_on(stage(denied.url), from_rows(PROBLEM), tmp_path / "b")
    assert len(denied.seen) == 1


def test_api_key_comes_from_the_named_variable_and_is_never_written(scripted, tmp_path, monkeypatch):
    from curate.recipe import validate_recipe
    from curate.runner import run_recipe

    server = scripted([(200, {}, chat_reply(1))])
    (tmp_path / "in.jsonl").write_text(json.dumps({"problem": "2+2?"}) + "\n")
    recipe = validate_recipe({"name": "k", "sources": [{"path": str(tmp_path / "in.jsonl")}], "stages": [
        {"use": "load"}, {"use": "generate", "teacher": "openai", "model": "m", "base_url": server.url,
                          "api_key_env": "CURATE_TEST_KEY"}]})
    with pytest.raises(CurateError, match="CURATE_TEST_KEY"):
        run_recipe(recipe, tmp_path / "run0", progress=False)
    monkeypatch.setenv("CURATE_TEST_KEY", "sk-very-secret-123")
    run_recipe(recipe, tmp_path / "run", progress=False)
    assert server.seen[0]["headers"]["Authorization"] == "Bearer sk-very-secret-123"
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert b"sk-very-secret-123" not in path.read_bytes(), path


def test_split_n_sends_one_request_per_sample_with_distinct_seeds(scripted, tmp_path):
    server = scripted([(200, {}, chat_reply(1))])
    out, _ctx = run_stage_on(stage(server.url, n=3, split_n=True, prefill="<think>\n"), from_rows(PROBLEM), tmp_path)
    assert out["sample_idx"].to_pylist() == [0, 1, 2] and len(server.seen) == 3
    assert len({seen["body"]["seed"] for seen in server.seen}) == 3
    body = server.seen[0]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>\n"}
    assert body["continue_final_message"] is True and body["n"] == 1


def test_retry_after_parses_seconds_and_dates():
    assert retry_after("3") == 3.0 and retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


# ---------------------------------------------------------------- a real vLLM server


@pytest.mark.vllm
def test_openai_teacher_against_a_real_vllm_server(api_server, tiny_model, tmp_path):
    rows = from_rows([{"id": f"p{i}", "problem": f"What is {i} + 1?", "domain": "math"} for i in range(3)])
    chat = stage(api_server, n=3, max_tokens=8, extra_body={"return_token_ids": True},
                 max_retries=0).config.model_copy(update={"model": "tiny"})
    out, ctx = run_stage_on(Generate(chat), rows, tmp_path / "chat")
    assert len(out) == 9 and out["sample_idx"].to_pylist() == [0, 1, 2] * 3
    for row in out.to_pylist():
        assert 1 <= row["completion_tokens"] <= 8 and row["prompt_tokens"] > 5
        assert row["finish_reason"] in ("stop", "length")
        # the server's deepseek_r1 parser puts unfinished thinking in the reasoning field
        assert row["reasoning"] is not None or row["answer"] is not None
    assert ctx.counters["requests_sent"] == 3
    completions = chat.model_copy(update={"endpoint": "completions", "tokenizer": str(tiny_model),
                                          "prefill": "<think>\n", "n": 2})
    out, _ = run_stage_on(Generate(completions), rows, tmp_path / "completions")
    assert len(out) == 6 and all(r["completion_tokens"] for r in out.to_pylist())
