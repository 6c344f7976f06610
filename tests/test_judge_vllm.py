"""The LLM judge's mechanics on the real vLLM engine (CPU build) and the tiny model.

The tiny model's replies are noise, so these tests check mechanics, not verdicts: the rubric
prompt is rendered with the chat template, every eligible row gets a judge record (a verdict
or an explicit `judge_unparsed`/`judge_error` reason), and a rerun sends no new requests.
"""

from __future__ import annotations

import json

import pytest
import vllm_fixtures
from vllm_fixtures import engine_options

from curate.schema import from_rows
from curate.stages.base import PartContext, run_stage_on
from curate.stages.verify import Verify
from curate.teachers.judge import ANSWER_RUBRIC, PARAPHRASE_RUBRIC, Judge, JudgeConfig

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model  # the session's tiny model (a fixture)


def judge_options(model) -> dict:
    options = engine_options(model, max_tokens=16)
    return {k: v for k, v in options.items() if k in JudgeConfig.model_fields}


def science_rows(count: int) -> list[dict]:
    return [{"id": f"q{i}", "trace_id": f"q{i}-0", "sample_idx": 0, "domain": "science", "source": "t",
             "problem": f"What is element number {i}?", "reference": f"element {i}",
             "answer": f"It is element {i}." if i % 3 else ""} for i in range(6)]


def test_verify_judge_mechanics_and_resume(tiny_model, tmp_path):
    stage = Verify(verifiers={"math": "none"}, judge=judge_options(tiny_model))
    rows = from_rows(science_rows(6))
    out, ctx = run_stage_on(stage, rows, tmp_path)
    eligible = {f"q{i}" for i in range(6) if i % 3}
    assert ctx.counters["judge_requests_sent"] == len(eligible) == 4
    for row in out.to_pylist():
        judge = json.loads(row["verify_detail"]).get("judge")
        if row["id"] not in eligible:
            assert judge is None and row["verdict"] == "unverified"
            continue
        assert judge["model"].startswith("tiny-llama@") and judge["prompt_hash"] == ANSWER_RUBRIC.prompt_hash
        assert judge["raw"] is not None and judge["replaces"] == "unverified"
        if judge["decision"] is None:
            assert judge["reason"] in ("judge_unparsed",) and row["verdict"] == "unverified"
        else:
            assert row["verdict"] == ("judge_pass" if judge["decision"] else "judge_fail")
    again, ctx2 = run_stage_on(stage, rows, tmp_path)
    assert ctx2.counters["judge_requests_sent"] == 0 and ctx2.counters["judge_requests_cached"] == 4
    assert again.equals(out)


def test_judge_renders_the_rubric_and_asks_each_question_once(tiny_model, tmp_path):
    config = JudgeConfig(**judge_options(tiny_model))
    judge = Judge(config, PARAPHRASE_RUBRIC, cache_path=tmp_path / "judge.sqlite")
    questions = [{"text": "How many primes are below 10?", "item": "Count the primes less than ten."},
                 {"text": "Name a prime.", "item": "Count the primes less than ten."}]
    counters = PartContext().counters
    first = judge.ask(questions + questions[:1], counters)
    assert counters["judge_requests_sent"] == 2 and len(first) == 3
    assert first[0].raw == first[2].raw  # the repeated question was asked once
    assert all(j.reason in ("judged", "judge_unparsed") for j in first)
    request = judge._request(questions[0])
    from curate.teachers import make_teacher

    teacher = make_teacher(judge.config)
    teacher.render([request])
    assert "Text B (benchmark item):\nCount the primes less than ten." in request.prompt_text
    assert PARAPHRASE_RUBRIC.system in request.prompt_text
    again = PartContext().counters
    judge.ask(questions, again)
    assert again["judge_requests_sent"] == 0 and again["judge_requests_cached"] == 2


def test_paraphrase_mechanics_and_resume(tiny_model, tmp_path):
    from pathlib import Path

    from curate.stages.base import PrepareContext
    from curate.stages.decontam import Decontam

    bench = Path(__file__).resolve().parent.parent / "recipes" / "data" / "mini_benchmark.jsonl"
    paraphrase = {**judge_options(tiny_model), "min_similarity": 0.05, "top_k": 2}
    stage = Decontam(benchmarks=[str(bench)], fields={"problem": 8}, paraphrase=paraphrase)
    stage.prepare(PrepareContext(inputs=[], artifacts=tmp_path))
    rows = from_rows([{"id": f"r{i}", "domain": "math", "problem": text} for i, text in enumerate(
        ["What do you get when you multiply 17 by 23?", "How many integers below 500 divide by 3 or 7?",
         "Zebras quarrel."])])
    out, ctx = run_stage_on(stage, rows, tmp_path)
    asked = ctx.counters["judge_questions"]
    assert asked == ctx.counters["paraphrase_candidates"] >= 2  # the rephrased rows found candidates
    assert ctx.counters["judge_requests_sent"] + ctx.counters["judge_requests_cached"] <= asked
    assert sum(ctx.counters[f"judge: {r}"] for r in ("judged", "judge_unparsed", "judge_error")) == asked
    flagged = {r["id"] for r in out.to_pylist() if r["contaminated"]}
    hits = [h for h in ctx.stats.get("decontam_hits", []) if h["kind"] == "paraphrase"]
    assert {h["row_id"] for h in hits} == flagged and len(hits) == ctx.counters["paraphrase_hits"]
    assert all(h["judge"]["decision"] is True and h["judge"]["raw"] is not None for h in hits)
    again, ctx2 = run_stage_on(stage, rows, tmp_path)
    assert ctx2.counters["judge_requests_sent"] == 0 and again.equals(out)
