"""Generation on object storage: the request cache goes up in segments while a part runs, so a
run killed mid-part and resumed on another machine (a fresh working copy: only the store) sends
only the requests no segment holds, and writes the same shards as a local run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.storage import Store
from tests.helpers.chat_server import ChatServer
from tests.helpers.s3 import fresh_bucket, objects, s3_server, tree

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = 40
SEGMENTS = "01-generate/_segments/part-00000"


class SlowTeacher(ChatServer):
    """Answers each problem with text derived from it, after `delay` seconds, one at a time."""

    def __init__(self, delay: float):
        self.lock = threading.Lock()
        super().__init__(self.answer)
        self.delay = delay

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        with self.lock:
            time.sleep(self.delay)
        problem = body["messages"][-1]["content"]
        message = {"role": "assistant", "content": f"The answer to {problem!r}.", "reasoning_content": "thinking"}
        return 200, {}, {"choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                         "usage": {"prompt_tokens": 9, "completion_tokens": 5}}


@pytest.fixture(scope="module")
def s3():
    with s3_server() as endpoint:
        yield endpoint


def generate_recipe(tmp_path: Path, url: str) -> Path:
    rows = [{"question": f"Problem {i}: what is {i} + {i}?"} for i in range(PROBLEMS)]
    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "gen", "seed": 5, "stages": [
        {"use": "load"},
        {"use": "generate", "teacher": "openai", "model": "m", "base_url": url, "max_concurrency": 2},
        {"use": "write"}],
        "sources": [{"path": "problems.jsonl", "domain": "math", "columns": {"problem": "question"}}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def shards(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if k.endswith(".parquet")}


@pytest.mark.slow
def test_killed_generation_resumes_elsewhere_sending_only_unsaved_requests(s3, tmp_path, monkeypatch):
    teacher = SlowTeacher(delay=0.1)
    try:
        recipe = generate_recipe(tmp_path, teacher.url)
        run_recipe(load_recipe(recipe), tmp_path / "local", progress=False)
        assert len(teacher.seen) == PROBLEMS
        teacher.seen.clear()

        url = f"s3://{fresh_bucket()}/run"
        env = {**os.environ, "CURATE_CACHE": str(tmp_path / "lost-machine"), "PYTHONPATH": str(ROOT),
               "CURATE_CACHE_SEGMENT_REQUESTS": "4"}
        proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.slow_stage", str(recipe), url],
                                cwd=ROOT, env=env)
        store = Store(url)
        deadline = time.time() + 180
        while time.time() < deadline and len(store.listing(SEGMENTS)) < 3 and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        saved = {json.loads(line)[0] for data in objects(store.root.split("/")[0], f"run/{SEGMENTS}").values()
                 for line in data.decode().splitlines()}
        sent = len(teacher.seen)
        assert len(saved) >= 12 and sent < PROBLEMS, "the kill must land mid-part, after three segments"
        assert not store.exists("01-generate/_done/part-00000.json")

        monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "another-machine"))  # only the store is left
        run_recipe(load_recipe(recipe), url, progress=False)
        resent = teacher.seen[sent:]
        assert len(resent) == PROBLEMS - len(saved), "every saved answer is reused, the rest sent once"
        stored = objects(store.root.split("/")[0], "run")
        dataset = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("dataset/")}
        assert shards(dataset) and shards(dataset) == shards(tree(tmp_path / "local" / "dataset"))
        assert not store.listing(SEGMENTS), "segments go once the part is marked done"
    finally:
        teacher.close()


def test_segments_reach_the_store_every_n_answers_and_merge_back(s3, tmp_path):
    """The unit under the test above: CacheSegments uploads every `every` responses, and a fresh
    cache merges them back, so their requests count as done."""
    from curate.storage.segments import Segments
    from curate.teachers.base import Request, Response, Sample
    from curate.teachers.cache import CacheSegments, RequestCache

    store = Store(f"s3://{fresh_bucket()}/r")
    requests = [Request(key=f"k{i}", messages=[{"role": "user", "content": str(i)}], sample_idx=[0], sampling={})
                for i in range(7)]
    for request in requests:
        request.seal("t")
    saving = CacheSegments(Segments(store, "02-generate/_segments/part-00003"), every=3, seconds=3600)
    for request in requests:
        saving.add(request, Response(prompt_tokens=3, samples=[Sample(f"answer {request.key}", "stop")]))
    saving.segments.close()
    assert len(store.listing("02-generate/_segments/part-00003")) == 2  # 3 + 3; the 7th waits for more

    again = Segments(store, "02-generate/_segments/part-00003")
    cache = RequestCache(tmp_path / "fresh.sqlite")
    assert cache.merge(again.load()) == 6
    assert cache.done_keys(requests) == {(r.key, r.payload_hash) for r in requests[:6]}
    assert [r.samples[0].text for r in cache.get_many(requests[:2])] == ["answer k0", "answer k1"]
    again.drop()
    assert not store.listing("02-generate/_segments/part-00003")
