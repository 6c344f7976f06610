"""Scoring through a real vLLM OpenAI-compatible server (its `prompt_logprobs` extension):
the teacher's per-token log-probabilities agree with a transformers forward pass."""

from __future__ import annotations

import pyarrow as pa
import pytest
import vllm_fixtures
from test_score import forward_logprobs
from test_score_resume import student_rows

from curate.schema import from_rows
from curate.stages.base import run_stage_on
from curate.stages.score import Score

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model
api_server = vllm_fixtures.api_server


def test_server_scores_agree_with_a_forward_pass(tiny_model, api_server, tmp_path):
    from transformers import AutoTokenizer

    rows = student_rows(tiny_model)[:4]
    stage = Score(teacher="openai", model="tiny", base_url=api_server, tokenizer=str(tiny_model),
                  logprobs=3, max_concurrency=4)
    out, ctx = run_stage_on(stage, from_rows(rows), tmp_path)
    assert ctx.counters["rows_scored"] == 4 and ctx.counters["sequences_sent"] == 4
    assert out.schema.field("teacher_top_ids").type == pa.list_(pa.list_(pa.int32()))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    for row in out.to_pylist()[:2]:
        text = tokenizer.apply_chat_template([{"role": "user", "content": row["problem"]}], tokenize=False,
                                             add_generation_prompt=True)
        prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
        reference = forward_logprobs(tiny_model, prompt + row["token_ids"])
        direct = [float(reference[len(prompt) + j - 1][t]) for j, t in enumerate(row["token_ids"])]
        assert row["teacher_logprobs"] == pytest.approx(direct, abs=1e-2)
        assert all(len(top) == 3 for top in row["teacher_top_ids"])

    # the cache answers a rerun without the server
    again, ctx2 = run_stage_on(Score(teacher="openai", model="tiny", base_url="http://127.0.0.1:9/v1",
                                     tokenizer=str(tiny_model), logprobs=3), from_rows(rows), tmp_path)
    assert ctx2.counters["sequences_sent"] == 0
    assert again["teacher_logprobs"].to_pylist() == out["teacher_logprobs"].to_pylist()
