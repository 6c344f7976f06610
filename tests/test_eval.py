"""`curate eval` end to end against a scripted OpenAI-compatible server with a known answer table.

The server answers each (model, problem) with a fixed list of boxed answers, so every figure of
the report can be computed by hand: pass@k, maj@k, intervals (degenerate when every problem has
the same value), diversity, truncation, tokens, and the diversity-collapse warning (the student
is right on half the problems every time, the teacher on every problem sometimes).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curate.cli import cli
from tests.helpers.chat_server import ChatServer

# problem -> (reference, teacher's answers, student's answers); 8 problems, two of each pattern
PATTERNS = [(["G", "5", "G", "7"], ["G", "G", "G", "G"]),
            (["1", "G", "2", "3"], ["1", "1", "1", "1"]),
            (["9", "9", "G", "1"], ["9", "9", "9", "9"]),
            (["G", "2", "3", "G"], ["G", "G", "G", "G"])]


def table() -> dict[str, tuple[str, list[str], list[str]]]:
    out = {}
    for i in range(8):
        gold = str(100 + i)
        teacher, student = PATTERNS[i % 4]
        fill = lambda xs: [gold if x == "G" else x for x in xs]  # noqa: E731
        out[f"Problem {i}: what is {gold} times one?"] = (gold, fill(teacher), fill(student))
    return out


def answer_server(answers: dict[str, tuple[str, list[str], list[str]]]) -> ChatServer:
    """Chat completions: the answers of the table for the request's model and problem."""

    def reply(body: dict) -> tuple:
        _, teacher, student = answers[body["messages"][-1]["content"]]
        chosen = teacher if body["model"] == "teacher-x" else student
        choices = [{"index": i, "finish_reason": "length" if (body["model"] == "student-x" and a == "1"
                                                              and i == 0) else "stop",
                    "token_ids": list(range(2 * (i + 1))),
                    "message": {"role": "assistant", "reasoning_content": f"thinking about {a} {i}",
                                "content": f"The answer is \\boxed{{{a}}}."}}
                   for i, a in enumerate(chosen[:body["n"]])]
        return 200, {}, {"choices": choices, "usage": {"prompt_tokens": 9}}

    return ChatServer(reply)


@pytest.fixture(scope="module")
def server():
    s = answer_server(table())
    yield s
    s.close()


def write_eval_set(path, dates=True):
    rows = [{"id": f"q{i}", "problem": p, "answer": gold, "released": f"2025-0{1 + i % 2}-15"}
            for i, (p, (gold, _, _)) in enumerate(table().items())]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_cli(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def eval_args(server, tmp_path, *extra):
    data = write_eval_set(tmp_path / "fresh.jsonl")
    return ["eval", "--model", f"teacher=openai:teacher-x@{server.url}",
            "--model", f"student=openai:student-x@{server.url}", "--benchmark", str(data), "--n", "4",
            "--set", "verify.checkers=1", "--set", "date_column=released", "--set", "bootstrap=2000",
            "--run-dir", str(tmp_path / "run"), "--quiet", *extra]


def test_end_to_end_figures_match_the_table(server, tmp_path):
    result = run_cli(*eval_args(server, tmp_path, "--after", "2025-02-01"))
    out = json.loads((tmp_path / "run" / "eval.json").read_text())
    teacher, student = out["results"]["teacher"]["all"], out["results"]["student"]["all"]
    assert teacher["problems"] == student["problems"] == 8 and teacher["n"] == 4
    # teacher: correct counts 2, 1, 1, 2 (twice) -> pass@k = mean over problems of the estimator
    expect = {"1": 6 / 16, "2": (5 / 6 + 1 / 2) / 2, "3": (1 + 0.75) / 2, "4": 1.0}
    for k, value in expect.items():
        assert teacher["pass@k"][k]["value"] == pytest.approx(value, abs=1e-6)
        assert student["pass@k"][k]["value"] == pytest.approx(0.5)
    assert teacher["pass@k"]["4"]["low"] == teacher["pass@k"]["4"]["high"] == 1.0  # every problem solved
    for k in "1234":  # majority votes by hand: patterns 1 and 4 are won by the gold, 2 and 3 are not
        assert teacher["maj@k"][k]["value"] == pytest.approx(0.5)
        assert student["maj@k"][k]["value"] == pytest.approx(0.5)
    low, high = student["pass@k"]["4"]["low"], student["pass@k"]["4"]["high"]
    assert low < 0.5 < high and (8 * low).is_integer() and (8 * high).is_integer() and high < 1.0
    assert teacher["diversity"]["distinct_answers"] == pytest.approx(13 / 4)
    assert student["diversity"]["distinct_answers"] == 1.0
    assert student["diversity"]["pairwise_similarity"] > teacher["diversity"]["pairwise_similarity"]
    assert teacher["tokens_per_sample"] == 5.0 and teacher["truncation_rate"] == 0.0
    assert student["truncation_rate"] == pytest.approx(2 / 32)
    assert [w["model"] for w in out["warnings"] if w["slice"] == "all"] == ["student"]
    assert "diversity collapse" in result.output
    # fresh: the odd items are dated 2025-02-15, after the cutoff
    assert out["results"]["teacher"]["fresh"]["problems"] == 4 and out["eval_set"]["fresh_problems"] == 4
    assert set(out["results"]["student"]["by_benchmark"]) == {"fresh"}
    md = (tmp_path / "run" / "eval.md").read_text()
    assert "| student | all | 8 | 50.0 [" in md and "| teacher | fresh | 4 |" in md
    html = (tmp_path / "run" / "eval.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "diversity collapse" in html


def test_rerun_resumes_and_a_new_model_reuses_the_others(server, tmp_path):
    run_cli(*eval_args(server, tmp_path))
    sent = len(server.seen)
    run_cli(*eval_args(server, tmp_path))
    assert len(server.seen) == sent  # everything came from the finished runs
    run_cli(*eval_args(server, tmp_path, "--model", f"again=openai:teacher-x@{server.url}"))
    assert len(server.seen) == sent + 8  # only the new model asked the server
    out = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert out["results"]["again"]["all"] == out["results"]["teacher"]["all"]


def test_changed_sampling_is_refused_not_mixed(server, tmp_path):
    run_cli(*eval_args(server, tmp_path))
    result = CliRunner().invoke(cli, eval_args(server, tmp_path, "--set", "models.0.temperature=1.5"))
    assert result.exit_code != 0 and "--force" in result.output


def test_train_splits_clean_and_contaminated_items(server, tmp_path):
    problems = list(table())
    train = tmp_path / "train.jsonl"
    rows = [{"problem": problems[2], "reasoning": "easy", "answer": "102"},
            {"problem": "Unrelated.", "reasoning": f"I have seen this: {problems[5]} It is 105.", "answer": "105"},
            {"problem": "What is the capital of France?", "reasoning": "Paris.", "answer": "Paris"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_cli(*eval_args(server, tmp_path, "--train", str(train)))
    out = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert out["contamination"]["items"] == {"fresh:q2": ["problem"], "fresh:q5": ["reasoning"]}
    teacher, student = out["results"]["teacher"], out["results"]["student"]
    assert teacher["contaminated"]["problems"] == 2 and teacher["clean"]["problems"] == 6
    assert teacher["contaminated"]["pass@k"]["1"]["value"] == pytest.approx(0.25)
    assert teacher["clean"]["pass@k"]["1"]["value"] == pytest.approx(10 / 24)
    assert student["contaminated"]["pass@k"]["1"]["value"] == 0.0
    assert student["clean"]["pass@k"]["1"]["value"] == pytest.approx(16 / 24)


def test_a_dataset_source_with_a_date_column_in_an_eval_recipe(server, tmp_path):
    import yaml

    write_eval_set(tmp_path / "items.jsonl")
    recipe = {"kind": "eval", "name": "ds", "n": 2, "after": "2025-02-01", "date_column": "released",
              "dataset": {"path": "items.jsonl", "domain": "math", "columns": {"reference": "answer"}},
              "verify": {"checkers": 1},
              "models": [{"name": "teacher", "teacher": "openai", "model": "teacher-x", "base_url": server.url}]}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(recipe))
    run_cli("eval", str(tmp_path / "eval.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet")
    out = json.loads((tmp_path / "run" / "eval.json").read_text())
    summary = out["results"]["teacher"]
    assert summary["all"]["problems"] == 8 and summary["fresh"]["problems"] == 4
    # first two samples of each pattern: 1, 1, 0, 1 correct -> pass@1 = 3 / 8, pass@2 = 3 / 4
    assert summary["all"]["pass@k"]["1"]["value"] == pytest.approx(3 / 8)
    assert summary["all"]["pass@k"]["2"]["value"] == pytest.approx(3 / 4)
    assert out["warnings"] == [] and out["eval_set"]["dataset"] == "items.jsonl"


def test_a_training_run_checked_by_eval_says_so_in_its_regenerated_card(server, tmp_path):
    """`--train RUN` leaves RUN a summary; `curate card RUN` then lists the eval set, how many of
    its items the data contains, and pass@1 on clean and contaminated items."""
    problems = list(table())
    data = tmp_path / "train.jsonl"
    rows = [{"problem": problems[3], "reasoning": "r", "answer": "103"},
            {"problem": "What is the capital of France?", "reasoning": "Paris.", "answer": "Paris"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "train.yaml"
    recipe.write_text(f"name: train\nsources:\n  - path: {data}\n    domain: math\n"
                      "stages:\n  - use: load\n  - use: write\n")
    train_run = tmp_path / "train-run"
    run_cli("run", str(recipe), "--run-dir", str(train_run), "--quiet", "--no-report")
    assert "Evaluation sets checked" not in (train_run / "dataset" / "README.md").read_text()
    run_cli(*eval_args(server, tmp_path, "--train", str(train_run)))
    summary = json.loads((train_run / "reports" / "eval_checks" / "eval.json").read_text())
    assert summary["contaminated"] == 1 and summary["items"] == ["fresh:q3"]
    # item 3 follows pattern 4: the teacher is right in 2 of 4 samples, the student in all
    assert summary["pass@1"]["teacher"]["contaminated"] == 0.5
    assert summary["pass@1"]["student"]["contaminated"] == 1.0
    run_cli("card", str(train_run))
    card = (train_run / "dataset" / "README.md").read_text()
    assert "### Evaluation sets checked against this data" in card
    # clean items by hand: the student is right on 3 of 7, the teacher on (0.5 * 3 + 0.25 * 4) / 7
    assert "| eval (fresh.jsonl) | 8 | 1 | student: 0.429 / 1.000; teacher: 0.357 / 0.500 |" in card
