"""The LLM judge: reply parsing, paraphrase candidates, and verify/decontam recipe runs against a
scripted local OpenAI-compatible server whose replies look like real judge answers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.decontam.similar import SimilarityIndex
from curate.recipe import RecipeError, load_recipe, validate_recipe
from curate.runner import run_recipe
from curate.teachers.judge import ANSWER_RUBRIC, PARAPHRASE_RUBRIC, parse_verdict
from tests.helpers.chat_server import ChatServer

# ---------------------------------------------------------------- parsing

REPLIES = [
    ("Verdict: YES", True, "verdict_line"),
    ("verdict: no", False, "verdict_line"),
    ("**CORRECT**\n\nThe candidate's 0.5 equals the reference 1/2.", True, "emphasis"),
    ("The candidate says 13 but the reference is 12.\n\n**Incorrect.**", False, "emphasis"),
    ('{"verdict": "yes", "explanation": "both are 2^{10}"}', True, "json"),
    ('```json\n{"correct": false, "reason": "sign differs"}\n```', False, "json"),
    ("<think>\nThe reference is 771. Is it the same? Verdict: NO, wait, 771 = 771.\n</think>\n\nVerdict: YES",
     True, "verdict_line"),
    ("Both give x = 3.\n</think>\nFinal Verdict: **Correct** — they agree.", True, "verdict_line"),
    ("Verdict: NO\n\nThe reference answer is 42; the candidate answers 24, so it is not correct.", False,
     "verdict_line"),
    ("Judgment: Not equivalent", False, "verdict_line"),
    ("YES", True, "first_line"),
    ("After comparing the two expressions carefully I conclude:\n\nNo.", False, "last_line"),
    ("\\boxed{\\text{Yes}}", True, "emphasis"),
    ("Reference answer: 12 and candidate answer: 12, so verdict: YES", True, "verdict_line"),
    ("Verdict: NO.\nAnswer: 12", False, "verdict_line"),
    ("**Verdict: Incorrect**", False, "verdict_line"),
]
UNPARSED = ["", "<think>Verdict: YES</think>", "It depends on the reading of the problem.",
            "Verdict: yes or no, hard to say", "de la la tokens tokens 1 2 3"]


@pytest.mark.parametrize("reply,decision,rule", REPLIES)
def test_parse_reads_real_looking_replies(reply, decision, rule):
    assert parse_verdict(reply) == (decision, rule)


@pytest.mark.parametrize("reply", UNPARSED)
def test_parse_never_guesses(reply):
    assert parse_verdict(reply) == (None, "unparsed")


def test_rubrics_are_fixed_and_hashed():
    assert ANSWER_RUBRIC.prompt_hash != PARAPHRASE_RUBRIC.prompt_hash
    user = ANSWER_RUBRIC.messages({"problem": "P {gold}", "gold": "G", "answer": "A"})[1]["content"]
    assert "Problem:\nP {gold}" in user and "Reference answer:\nG" in user and user.count("{") == 1


def test_similarity_puts_the_rephrased_item_first():
    items = ["Find the number of positive integers less than 1000 that are divisible by 7 but not by 11.",
             "A triangle has sides 3, 4 and 5. What is its area?",
             "How many ways can 5 books be arranged on a shelf?"]
    row = "How many positive whole numbers below 1000 are multiples of 7 and not multiples of 11?"
    for method in ("words", "tfidf", "both"):
        index = SimilarityIndex(items, method=method)
        top = index.top(row, 2)
        assert top[0][0] == 0 and top[0][1] > top[-1][1] and top[0][1] > 0.25, method
        assert index.top("zebra quartz", 3, min_score=0.2) == []
        cosine, jaccard = index.scores(items[1])
        assert cosine[1] == pytest.approx(1.0) and jaccard[1] == pytest.approx(1.0)
    cosine, jaccard = index.scores("arranged books on a shelf: how many ways, 3 4 5 triangle")
    both = {i for i, _ in index.top("arranged books on a shelf: how many ways, 3 4 5 triangle", 1)}
    assert both == {int(cosine.argmax()), int(jaccard.argmax())}  # each signal proposes its best


# ---------------------------------------------------------------- a scripted judge server


class JudgeServer(ChatServer):
    """A chat server whose reply content is `answer(user_text)` (or `(status, error)`)."""

    def __init__(self, answer):
        super().__init__(lambda body: self.reply(answer(body["messages"][-1]["content"])))

    def bodies(self) -> list[dict]:
        return [seen["body"] for seen in self.seen]

    @staticmethod
    def reply(content):
        status, content = content if isinstance(content, tuple) else (200, content)
        if status != 200:
            return status, {}, {"error": content}
        return 200, {}, {"choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 50, "completion_tokens": 9}}


@pytest.fixture
def judge_server():
    servers = []

    def make(answer):
        servers.append(JudgeServer(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def judge_block(url: str) -> dict:
    return {"teacher": "openai", "model": "judge-x", "base_url": url, "max_retries": 0}


# ---------------------------------------------------------------- verify

#: (uid, domain, problem, gold, generation, the judge's scripted reply, expected verdict)
ROWS = [
    ("s1", "science", "Which gas do plants absorb for photosynthesis?", "carbon dioxide",
     "<think>Plants take in CO2.</think>They absorb carbon dioxide (CO2).", "Verdict: YES", "judge_pass"),
    ("s2", "science", "What is the powerhouse of the cell?", "the mitochondrion",
     "<think>hmm</think>The nucleus.", "**INCORRECT**\n\nThe nucleus is not the mitochondrion.", "judge_fail"),
    ("s3", "science", "What particle has a negative charge?", "the electron",
     "<think>...</think>An electron.", '{"verdict": "correct", "confidence": 0.9}', "judge_pass"),
    ("s4", "science", "Name the closest star to Earth.", "the Sun",
     "<think>...</think>The Sun.", "I am not sure how to grade this one.", "unverified"),
    ("s5", "science", "What is the chemical symbol of gold?", "Au",
     "<think>...</think>", "Verdict: YES", "unverified"),  # empty answer: never sent
    ("m1", "math", "How many sides does a hexagon have?", "see the figure",
     "<think>six</think>A hexagon has 6 sides.", "<think>The gold is odd.</think>\nVerdict: NO", "judge_fail"),
    ("s6", "science", "Summarise the theory of evolution.", "natural selection",
     "<think>...</think>Species change by natural selection.", (400, "maximum context length is 8 tokens"),
     "unverified"),  # the server refuses: recorded, verdict unchanged
]


def scripted_answer(user_text: str) -> str:
    for _uid, _domain, problem, *_rest, reply, _expected in ROWS:
        if problem in user_text:
            return reply
    raise AssertionError(f"unexpected question: {user_text[:200]}")


def verify_recipe(tmp_path: Path, url: str, *, keep: list[str]) -> Path:
    rows = [{"uid": uid, "domain": domain, "question": problem, "gold": gold, "generation": generation}
            for uid, domain, problem, gold, generation, _reply, _expected in ROWS]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "jv", "seed": 1,
              "sources": [{"path": str(data), "name": "mix", "trace": "generation",
                           "columns": {"problem": "question", "reference": "gold"}}],
              "stages": [{"use": "load"}, {"use": "verify", "checkers": 1, "judge": judge_block(url)},
                         {"use": "filter", "verdict": keep}]}
    path = tmp_path / "recipe.yaml"
    import yaml

    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def part_rows(folder: Path) -> list[dict]:
    parts = sorted(folder.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist() if parts else []


def test_verify_judge_records_verdicts_end_to_end(tmp_path, judge_server):
    server = judge_server(scripted_answer)
    run = tmp_path / "run"
    run_recipe(load_recipe(verify_recipe(tmp_path, server.url, keep=["pass", "judge_pass"])), run, progress=False)
    rows = {json.loads(r["extra"])["uid"]: r for r in part_rows(run / "01-verify")}
    expected = {uid: verdict for uid, *_rest, verdict in ROWS}
    assert {uid: r["verdict"] for uid, r in rows.items()} == expected
    assert len(server.seen) == 6  # s5 has no answer: not asked
    for uid, row in rows.items():
        judge = json.loads(row["verify_detail"] or "{}").get("judge")
        if uid == "s5":
            assert judge is None
            continue
        assert judge["model"] == "judge-x" and judge["prompt_hash"] == ANSWER_RUBRIC.prompt_hash
        if uid == "s6":
            assert judge["reason"].startswith("judge_error: HTTP 400") and judge["raw"] is None
            continue
        assert judge["raw"] == scripted_answer(row["problem"])
        assert judge["reason"] == ("judge_unparsed" if uid == "s4" else "judged")
        detail = json.loads(row["verify_detail"])
        assert detail["reason"].startswith("LLM judge (answer-equivalence@1) says") == (uid != "s4")
        # m1: no_answer today (prose answer), bad_reference once prose answers are extracted
        assert judge["replaces"] in (("no_answer", "bad_reference") if uid == "m1" else ("unverified",))
    # pass_rate counts proofs only (a bad_reference problem has none: None)
    assert rows["m1"]["pass_rate"] in (0.0, None) and rows["s1"]["pass_rate"] is None
    kept = {json.loads(r["extra"])["uid"] for r in part_rows(run / "02-filter")}
    assert kept == {"s1", "s3"}
    question = server.bodies()[0]["messages"][-1]["content"]
    assert server.bodies()[0]["temperature"] == 0.0 and "Reference answer:" in question

    # a crash after the judge answered: the rerun asks nothing again
    shutil.rmtree(run / "01-verify" / "_done")
    for part in (run / "01-verify").glob("part-*.parquet"):
        part.unlink()
    shutil.rmtree(run / "02-filter")
    run_recipe(load_recipe(verify_recipe(tmp_path, server.url, keep=["pass", "judge_pass"])), run, progress=False)
    assert len(server.seen) == 6
    assert {json.loads(r["extra"])["uid"] for r in part_rows(run / "02-filter")} == {"s1", "s3"}


def test_filter_keeps_pass_only_unless_told(tmp_path, judge_server):
    server = judge_server(scripted_answer)
    run_recipe(load_recipe(verify_recipe(tmp_path, server.url, keep=["pass"])), tmp_path / "run", progress=False)
    assert part_rows(tmp_path / "run" / "02-filter") == []
    with pytest.raises(RecipeError, match="unknown verdict 'judge-pass'"):
        validate_recipe({"name": "x", "sources": [{"path": "a.jsonl"}],
                         "stages": [{"use": "load"}, {"use": "filter", "verdict": ["pass", "judge-pass"]}]})


# ---------------------------------------------------------------- decontam

BENCH = [{"id": "b1", "problem": "Find the number of positive integers less than 1000 that are divisible by 7 "
          "but not by 11.", "answer": "130"},
         {"id": "b2", "problem": "A triangle has sides 13, 14 and 15. Compute the area of the triangle.",
          "answer": "84"}]
POOL = [{"uid": "para", "question": "How many positive whole numbers below one thousand are multiples of 7 "
         "while not being multiples of 11?"},
        {"uid": "near", "question": "How many positive integers less than 500 are divisible by 3?"},
        {"uid": "clean", "question": "Describe the water cycle in two sentences."}]


def decontam_recipe(tmp_path: Path, url: str) -> Path:
    import yaml

    (tmp_path / "bench.jsonl").write_text("".join(json.dumps(b) + "\n" for b in BENCH))
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in POOL))
    paraphrase = {**judge_block(url), "min_similarity": 0.1, "top_k": 2}
    recipe = {"name": "jd", "seed": 1,
              "sources": [{"path": str(tmp_path / "pool.jsonl"), "domain": "math", "columns": {"problem": "question"}}],
              "stages": [{"use": "load"},
                         {"use": "decontam", "benchmarks": [str(tmp_path / "bench.jsonl")], "paraphrase": paraphrase},
                         {"use": "filter", "drop_contaminated": True}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def paraphrase_answer(user_text: str) -> str:
    text_a = re.search(r"Text A \(training data\):\n(.*?)\n\nText B", user_text, re.S).group(1)
    item = re.search(r"Text B \(benchmark item\):\n(.*?)\n\nIs text A", user_text, re.S).group(1)
    if text_a == POOL[0]["question"] and item == BENCH[0]["problem"]:
        return "<think>Same bound, same divisors.</think>\n**Verdict:** YES, it is the same problem reworded."
    return "Verdict: NO\n\nDifferent numbers, different question."


def test_paraphrase_hits_are_judged_recorded_and_dropped(tmp_path, judge_server):
    server = judge_server(paraphrase_answer)
    run = tmp_path / "run"
    run_recipe(load_recipe(decontam_recipe(tmp_path, server.url)), run, progress=False)
    rows = {json.loads(r["extra"])["uid"]: r["contaminated"] for r in part_rows(run / "01-decontam")}
    assert rows == {"para": ["bench:b1"], "near": [], "clean": []}
    asked = [re.search(r"Text A \(training data\):\n(.*?)\n\n", s["messages"][-1]["content"], re.S).group(1)
             for s in server.bodies()]
    assert POOL[0]["question"] in asked and len(server.seen) <= 2 * len(POOL)
    report = json.loads((run / "reports" / "decontam.json").read_text())
    [hit] = report["hits"]
    assert (hit["kind"], hit["item_id"], hit["field"]) == ("paraphrase", "b1", "problem")
    assert hit["judge"]["raw"].startswith("<think>") and hit["judge"]["decision"] is True
    assert hit["judge"]["prompt_hash"] == PARAPHRASE_RUBRIC.prompt_hash
    assert {json.loads(r["extra"])["uid"] for r in part_rows(run / "02-filter")} == {"near", "clean"}
    (run / "reports" / "decontam.md").read_text()  # renders


def test_a_judge_without_its_backend_fails_at_validation(monkeypatch):
    import importlib.util

    from curate.errors import MissingExtra

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "httpx" else real(name, *a))
    with pytest.raises(MissingExtra, match="openai judge needs .*httpx"):
        validate_recipe({"name": "x", "sources": [{"path": "a.jsonl"}],
                         "stages": [{"use": "load"}, {"use": "verify", "judge": {"teacher": "openai", "model": "m"}}]})
