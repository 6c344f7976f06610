"""On-policy distillation data on the real vLLM CPU engine: two tiny models that share one
tokenizer (the session's tiny model as the student, a second seed as the teacher). The student
samples with log-probabilities, the teacher scores; both agree with a direct `transformers`
forward pass over the same token ids."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import vllm_fixtures
from vllm_fixtures import engine_options

from curate.errors import CurateError
from curate.schema import TRACE_SCHEMA, from_rows
from curate.stages.base import run_stage_on
from curate.stages.generate import Generate
from curate.stages.score import Score

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model  # the student
TOP_K = 5
PROMPT = {"system_prompt": "Be brief.", "user_template": "Solve: {problem}", "prefill": "<think>\n"}


@pytest.fixture(scope="session")
def teacher_model(tiny_model, tmp_path_factory):
    from curate.teachers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("teacher") / "tiny-teacher", seed=1)


def problems(count: int) -> list[dict]:
    return [{"id": f"p{i}", "problem": f"What is {i} + {2 * i}?", "domain": "math", "source": "t"}
            for i in range(count)]


@pytest.fixture(scope="session")
def rollouts(tiny_model, tmp_path_factory):
    """The student's samples with log-probabilities (the student engine runs once)."""
    stage = Generate(**engine_options(tiny_model, n=2, max_tokens=24, temperature=1.0, top_p=1.0,
                                      logprobs=TOP_K, **PROMPT))
    out, _ = run_stage_on(stage, from_rows(problems(4)), tmp_path_factory.mktemp("student"))
    return out


def score_stage(model, **overrides) -> Score:
    return Score(**engine_options(model, logprobs=TOP_K, **PROMPT, **overrides))


@pytest.fixture(scope="session")
def scored(rollouts, teacher_model, tmp_path_factory):
    out, ctx = run_stage_on(score_stage(teacher_model), rollouts, tmp_path_factory.mktemp("scored"))
    return out, ctx


def forward_logprobs(model_path, ids: list[int]) -> np.ndarray:
    """log softmax of a plain transformers forward pass: row p predicts token p + 1."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.float32)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    return torch.log_softmax(logits.float(), dim=-1).numpy()


def prompt_ids(model_path, row) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    messages = [{"role": "system", "content": PROMPT["system_prompt"]},
                {"role": "user", "content": f"Solve: {row['problem']}"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text + PROMPT["prefill"], add_special_tokens=False)["input_ids"]


def check_against_forward(model_path, row, chosen, top_ids, top_lps):
    prompt = prompt_ids(model_path, row)
    ids = prompt + row["token_ids"]
    reference = forward_logprobs(model_path, ids)
    # float32 on both sides; the engine's batched CPU kernels sum in another order (~1e-3)
    direct = [float(reference[len(prompt) + j - 1][t]) for j, t in enumerate(row["token_ids"])]
    assert chosen == pytest.approx(direct, abs=1e-2)
    assert np.abs(np.subtract(chosen, direct)).mean() < 3e-3
    for j in range(len(row["token_ids"])):
        expected = reference[len(prompt) + j - 1]
        best = np.sort(expected)[::-1][:TOP_K]
        assert np.allclose(np.asarray(top_lps[j], dtype=np.float32), best, atol=2e-2)
        assert [float(expected[t]) for t in top_ids[j]] == pytest.approx(list(best), abs=2e-2)


def test_generate_records_token_arrays_compactly(rollouts, tiny_model):
    assert rollouts.schema.field("token_ids").type == pa.list_(pa.int32())
    assert rollouts.schema.field("top_logprobs").type == pa.list_(pa.list_(pa.float16()))
    assert rollouts.schema == TRACE_SCHEMA
    rows = rollouts.to_pylist()
    assert len(rows) == 8
    ident = json.loads(rows[0]["tokenizer"])
    assert ident["name"] == "tiny-llama" and ident["vocab_size"] > 100 and len(ident["vocab_hash"]) == 16
    sampling = json.loads(rows[0]["sampling"])
    assert sampling["logprobs"] == TOP_K and sampling["logprob_storage"]["top_logprobs"] == "float16"
    for row in rows:
        assert len(row["token_ids"]) == row["completion_tokens"] == len(row["token_logprobs"])
        assert all(len(ids) == TOP_K for ids in row["top_ids"])
        assert all(lp <= 0 for lp in row["token_logprobs"])
    # the sampling model's log-probabilities are the student's own forward pass
    row = rows[0]
    check_against_forward(tiny_model, row, row["token_logprobs"], row["top_ids"], row["top_logprobs"])


def test_teacher_logprobs_agree_with_a_transformers_forward_pass(scored, teacher_model):
    out, ctx = scored
    rows = out.to_pylist()
    assert len(rows) == 8 and ctx.counters["rows_scored"] == 8
    for row in rows[:3]:
        check_against_forward(teacher_model, row, row["teacher_logprobs"], row["teacher_top_ids"],
                              row["teacher_top_logprobs"])


def test_advantages_and_reverse_kl(scored):
    out, ctx = scored
    for row in out.to_pylist():
        teacher, student = np.array(row["teacher_logprobs"]), np.array(row["token_logprobs"])
        assert np.allclose(row["advantages"], teacher - student, atol=1e-5)
        assert row["reverse_kl"] == pytest.approx(float((student - teacher).sum()), abs=1e-3)
        detail = json.loads(row["score_detail"])
        assert detail["tokens"] == len(row["token_ids"]) and detail["top_k"] == TOP_K
        assert detail["scorer"].startswith("tiny-teacher@")
    assert ctx.counters["tokens_scored"] == sum(len(r["token_ids"]) for r in out.to_pylist())


def test_a_tokenizer_mismatch_names_both_tokenizers(rollouts, tmp_path):
    from curate.teachers.tiny_model import build_tiny_model

    other = build_tiny_model(tmp_path / "other-vocab", vocab_size=400)
    with pytest.raises(CurateError) as caught:
        run_stage_on(score_stage(other), rollouts, tmp_path / "run")
    message = str(caught.value)
    assert "'tiny-llama@unpinned'" in message and "'other-vocab@unpinned'" in message
    assert "vocabulary size" in message


def test_text_only_rows_are_tokenized_and_scored_without_advantages(rollouts, teacher_model, tmp_path):
    rows = rollouts.slice(0, 2).to_pylist()
    for row in rows:
        row.update(tokenizer=None, token_ids=None, token_logprobs=None, top_ids=None, top_logprobs=None)
    rows.append({"id": "empty", "problem": "no completion", "domain": "math"})
    out, ctx = run_stage_on(score_stage(teacher_model), from_rows(rows), tmp_path)
    got = out.to_pylist()
    assert [r["teacher_logprobs"] is not None for r in got] == [True, True, False]
    assert got[0]["advantages"] is None and ctx.counters["rows_scored"] == 2
    assert json.loads(got[2]["score_detail"])["error"] == "no prompt or completion"


def test_the_engines_arrays_read_directly_equal_vllms_own_lists(rollouts, teacher_model, tmp_path, monkeypatch):
    """Scoring reads the prompt log-probabilities as the arrays the engine core sent; the output
    is the same bytes as reading vLLM's Python lists, and the installed vLLM allows it."""
    from curate.teachers import logprobs
    from curate.teachers.scoring import VllmScorer

    kept, keep = [], logprobs.keep_prompt_arrays
    monkeypatch.setattr(logprobs, "keep_prompt_arrays", lambda *args: kept.append(keep(*args)) or kept[-1])
    arrays, _ = run_stage_on(score_stage(teacher_model), rollouts, tmp_path / "arrays")
    assert len(kept) == rollouts.num_rows and all(kept)
    monkeypatch.setattr(VllmScorer, "keep_arrays", False)
    lists, _ = run_stage_on(score_stage(teacher_model), rollouts, tmp_path / "lists")
    assert len(kept) == rollouts.num_rows  # not asked again
    assert arrays.equals(lists)
