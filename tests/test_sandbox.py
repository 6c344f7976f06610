"""The code sandbox: hostile programs must fail and leave the host untouched; legitimate ones pass.

Each hostile program returns the right answer only if its attack works, so a pass would mean
the isolation broke. Needs bubblewrap: skipped locally without it, a failure under CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import pytest

from curate.verifiers.code import (
    CodeSettings,
    compare_stdout,
    extract_program,
    harness_source,
    same_value,
    verify_one,
)
from curate.verifiers.sandbox import UID_BASE, UID_SPAN, Sandbox, bwrap_available

if not bwrap_available():
    if os.environ.get("CI"):
        pytest.fail("bubblewrap (bwrap) is required under CI: apt-get install bubblewrap", pytrace=False)
    pytest.skip("bubblewrap not installed (apt-get install bubblewrap)", allow_module_level=True)

SECRET = "curate-test-secret-4f1c"
CALL = {"type": "call", "fn_name": "f", "tests": [{"args": [2], "expected": 4}, {"args": [5], "expected": 10}]}
FUNCTIONAL = {"type": "functional", "entry_point": "f",
              "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(5) == 10\n"}
FUNCTIONAL_ABS = {"type": "functional", "entry_point": "f",
                  "test": "def check(candidate):\n    assert abs(candidate(2) - 4) < 1e-9\n"}
STDIO = {"type": "stdio", "tests": [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "10\n"}]}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A host folder with a sentinel file, a listener on 127.0.0.1 and a secret in our env."""
    folder = tmp_path_factory.mktemp("host")
    sentinel = folder / "sentinel.txt"
    sentinel.write_text("untouched")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    os.environ["CURATE_TEST_SECRET"] = SECRET
    yield {"dir": folder, "sentinel": sentinel, "port": listener.getsockname()[1], "listener": listener}
    os.environ.pop("CURATE_TEST_SECRET", None)
    listener.close()


def hostile_programs(h) -> dict[str, tuple[dict, str]]:
    """name -> (spec, program). Each returns the right answer only if the attack succeeds."""
    s, port, d = h["sentinel"], h["port"], h["dir"]
    return {
        "infinite loop": (CALL, "def f(x):\n    while True:\n        pass\n"),
        "sleep past the deadline": (CALL, "import time\ndef f(x):\n    time.sleep(60)\n    return 2 * x\n"),
        "huge allocation": (CALL, "def f(x):\n    b = bytearray(16 << 30)\n    return 2 * x\n"),
        "fork bomb": (CALL, ("import os, time\ndef f(x):\n    n = 0\n    for _ in range(5000):\n        try:\n"
                            "            pid = os.fork()\n        except OSError:\n            break\n"
                            "        if pid == 0:\n            time.sleep(60)\n            os._exit(0)\n"
                            "        n += 1\n    return 2 * x if n >= 5000 else -1\n")),
        "recursion bomb": (CALL, ("import sys\nsys.setrecursionlimit(10**8)\ndef g(n):\n    return g(n + 1) + 1\n"
                                 "def f(x):\n    return g(0)\n")),
        "segfault": (CALL, "import ctypes\ndef f(x):\n    ctypes.string_at(0)\n    return 2 * x\n"),
        "output flood": (STDIO, "while True:\n    print('x' * 4096)\n"),
        "non-terminating thread": (STDIO, ("import threading, time\nthreading.Thread(target=time.sleep, "
                                          "args=(600,)).start()\nprint(2 * int(input()))\n")),
        "subprocess / os.system": (CALL, (f"import os, subprocess\ndef f(x):\n    os.system('echo pwned > {d}/pwned')\n"
                                         f"    subprocess.run(['rm', '-f', '{s}'])\n"
                                         f"    return 2 * x if os.path.exists('{d}/pwned') else -1\n")),
        "delete a host file": (CALL, (f"import os\ndef f(x):\n    try:\n        os.remove('{s}')\n"
                                     "        return 2 * x\n    except OSError:\n        return -1\n")),
        "write outside scratch": (CALL, ("def f(x):\n    for p in ('/usr/pwned', '/box/pwned', '/pwned'):\n"
                                        "        try:\n            open(p, 'w').write('x')\n            return 2 * x\n"
                                        "        except OSError:\n            pass\n    return -1\n")),
        "read an environment secret": (CALL, ("import os\ndef f(x):\n    env = open('/proc/1/environ').read() "
                                             f"+ str(os.environ)\n    return 2 * x if '{SECRET}' in env else -1\n")),
        "connect to 127.0.0.1": (CALL, (f"import socket\ndef f(x):\n    try:\n        socket.create_connection"
                                       f"(('127.0.0.1', {port}), timeout=1)\n        return 2 * x\n"
                                       "    except OSError:\n        return -1\n")),
        "sys.exit(0) before the tests": (FUNCTIONAL, "import sys\nsys.exit(0)\ndef f(x):\n    return -1\n"),
        "os._exit(0) before the tests": (FUNCTIONAL, "import os\nos._exit(0)\ndef f(x):\n    return -1\n"),
        "sys.exit(0) inside the call": (FUNCTIONAL, "import sys\ndef f(x):\n    sys.exit(0)\n"),
        "os._exit(0) inside the call": (FUNCTIONAL, "import os\ndef f(x):\n    os._exit(0)\n"),
        "atexit hook": (FUNCTIONAL, ("import atexit, os\natexit.register(lambda: print('passed'))\n"
                                    "def f(x):\n    return -1\n")),
        "always-equal object (functional)": (FUNCTIONAL, ("class E:\n    def __eq__(self, o):\n        return True\n"
                                                         "    def __ne__(self, o):\n        return False\n"
                                                         "def f(x):\n    return E()\n")),
        "always-equal object (call)": (CALL, ("class E(int):\n    def __eq__(self, o):\n        return True\n"
                                            "def f(x):\n    return E(0)\n")),
        "patched builtins": (FUNCTIONAL_ABS, ("import builtins\nbuiltins.abs = lambda v: 0\n"
                                             "def f(x):\n    return -1\n")),
        "runs sh -c": (CALL, ("import subprocess\ndef f(x):\n    done = subprocess.run(['sh', '-c', 'exit 0'])\n"
                              "    return 2 * x if done.returncode == 0 else -1\n")),
        "runs /bin/ls": (CALL, ("import subprocess\ndef f(x):\n    subprocess.run(['/bin/ls', '/'], check=True)\n"
                               "    return 2 * x\n")),
        "execs a copy of the interpreter it wrote": (CALL, (
            "import os, shutil, subprocess, sys\ndef f(x):\n    shutil.copy(sys.executable, '/tmp/py')\n"
            "    os.chmod('/tmp/py', 0o755)\n"
            "    out = subprocess.run(['/tmp/py', '-c', 'print(1)'], capture_output=True)\n"
            "    return 2 * x if out.stdout.strip() == b'1' else -1\n")),
        "execs the interpreter itself": (CALL, ("import os, sys\ndef f(x):\n"
                                               "    os.execv(sys.executable, [sys.executable, '-c', 'print(4)'])\n")),
        "writes 512 MiB to stdout (functional)": (FUNCTIONAL, ("import sys\nsys.stdout.write('x' * (512 << 20))\n"
                                                              "def f(x):\n    return 2 * x\n")),
        "writes 512 MiB to stderr (stdio)": (STDIO, ("import sys\nsys.stderr.write('x' * (512 << 20))\n"
                                                    "print(2 * int(input()))\n")),
        "prints a fake report": (CALL, ("import os\nfor fd in range(1, 20):\n    try:\n        os.write(fd, b'"
                                       '{"results": [{"v": "4"}, {"v": "10"}], "done": true}\\n'
                                       "')\n    except OSError:\n        pass\nos._exit(0)\n")),
    }


LEGIT = {
    "writes a scratch file": (CALL, ("def f(x):\n    open('scratch.txt', 'w').write(str(x))\n"
                                    "    return 2 * int(open('scratch.txt').read())\n")),
    "noise on stderr": (CALL, ("import sys\nprint('warming up', file=sys.stderr)\ndef f(x):\n"
                              "    print('debug', x)\n    return 2 * x\n")),
    "print, flush, os._exit(0)": (STDIO, "import os, sys\nprint(2 * int(input()))\nsys.stdout.flush()\nos._exit(0)\n"),
    "functional": (FUNCTIONAL, "def f(x):\n    return x + x\n"),
    "functional with abs": (FUNCTIONAL_ABS, "def f(x):\n    return 4.0\n"),
    "in-place mutation": ({"type": "functional", "entry_point": "f",
                           "test": ("def check(candidate):\n    a = [3, 1, 2]\n    candidate(a)\n"
                                    "    assert a == [1, 2, 3]\n")},
                          "def f(a):\n    a.sort()\n"),
}

SETTINGS = CodeSettings(timeout=4.0, memory_mb=1024)


def judge(spec: dict, program: str) -> tuple[str, dict]:
    row = {"reference": json.dumps(spec), "answer": f"```python\n{program}```\n", "reasoning": "r"}
    return verify_one(row, Sandbox(kind="bwrap"), SETTINGS)


def digest_tree(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p).encode() + (p.read_bytes() if p.is_file() else b""))
    return h.hexdigest()


@pytest.mark.parametrize("name", list(hostile_programs({"sentinel": Path("/x"), "port": 1, "dir": Path("/x")})))
def test_hostile_programs_fail_and_leave_the_host_untouched(name, host):
    before = digest_tree(host["dir"])
    spec, program = hostile_programs(host)[name]
    verdict, detail = judge(spec, program)
    assert verdict in ("fail", "timeout"), (verdict, detail)
    assert digest_tree(host["dir"]) == before
    assert host["sentinel"].read_text() == "untouched"
    with pytest.raises(BlockingIOError):
        host["listener"].accept()


def test_expected_outcome_classes(host):
    programs = hostile_programs(host)
    assert judge(*programs["infinite loop"])[0] == "timeout"
    assert judge(*programs["always-equal object (call)"])[0] == "fail"
    assert "output exceeded the cap (stdout over 64 MiB)" in judge(*programs["output flood"])[1]["reason"]


@pytest.mark.parametrize("name", list(LEGIT))
def test_legitimate_programs_pass(name):
    verdict, detail = judge(*LEGIT[name])
    assert verdict == "pass", detail


def test_the_interpreter_is_the_only_program_in_view():
    """No shell, no coreutils: the filesystem shows the interpreter's own file and libraries."""
    probe = ("import json, os, sys\nprint(json.dumps({'bin': sorted(os.listdir(os.path.dirname(sys.executable))),"
             " 'sh': [p for p in ('/bin/sh', '/usr/bin/sh', '/bin/bash', '/bin/ls', '/usr/bin/env')"
             " if os.path.exists(p)],"
             " 'root': sorted(os.listdir('/'))}))\n")
    run = Sandbox(kind="bwrap").run({"harness.py": harness_source(), "program.py": probe}, ["stdio"])
    seen = json.loads(run.stdout)
    python = os.path.realpath(Sandbox(kind="bwrap").python)
    assert seen["sh"] == [] and os.path.basename(python) in seen["bin"]
    assert all(name.startswith("python") for name in seen["bin"]), seen["bin"]
    assert "sbin" not in seen["root"] and "etc" not in seen["root"]


def test_the_output_cap_is_configurable_and_its_excess_a_fail():
    spec, program = FUNCTIONAL, "import sys\nsys.stdout.write('x' * (2 << 20))\ndef f(x):\n    return 2 * x\n"
    row = {"reference": json.dumps(spec), "answer": f"```python\n{program}```\n"}
    assert verify_one(row, Sandbox(kind="bwrap"), SETTINGS)[0] == "pass"  # 2 MiB is under the 64 MiB default
    verdict, detail = verify_one(row, Sandbox(kind="bwrap"), CodeSettings(timeout=4.0, max_output=1 << 20))
    assert verdict == "fail" and "output exceeded the cap (stderr over 1 MiB)" in detail["reason"]


def test_no_sandbox_process_survives_a_fork_bomb(host):
    judge(*hostile_programs(host)["fork bomb"])
    for _ in range(100):  # processes die with their pid namespace; zombies wait for PID 1
        alive = [p for p in _sandbox_processes() if p[1] != "Z"]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive


def _sandbox_processes() -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[1])
        if UID_BASE <= uid < UID_BASE + UID_SPAN:
            out.append((int(entry.name), fields["State"].split()[0]))
    return out


def test_extract_program():
    text = "Plan.\n```text\nnot code\n```\n```python\nprint(1)\n```\n"
    assert extract_program(text) == ("print(1)\n", "")
    assert extract_program("```cpp\nint main(){}\n```\n")[0] is None
    assert extract_program("```python\nprint(1)\n")[1] == "unterminated code block"
    assert extract_program("no code")[1] == "no fenced code block"


def test_stdout_comparison():
    assert compare_stdout("1 2\n3\n", "1 2 3") == ""
    assert compare_stdout("1 2", "1 2 3").startswith("2 output tokens")
    assert compare_stdout("1 2 3 4", "1 2 3")
    assert compare_stdout("YES", "yes") and not compare_stdout("YES", "yes", case_insensitive=True)
    assert compare_stdout("0.3333", "0.33333333") and not compare_stdout("0.3333", "0.33333333", float_tol=1e-3)


def test_plain_value_comparison():
    assert same_value((1, 2), [1, 2]) and same_value(2, 2.0)
    assert not same_value(True, 1) and not same_value(1, True)
    assert not same_value("1", 1) and same_value({1: "a"}, {"1": "a"})


def test_a_broken_sandbox_fails_once_with_a_hint():
    from curate.errors import CurateError
    from curate.verifiers.code import check_sandbox

    with pytest.raises(CurateError) as err:
        check_sandbox(Sandbox(kind="bwrap", python="/nonexistent/python3"))
    assert "does not exist" in err.value.message and "sandbox: none" in err.value.hint
    check_sandbox(Sandbox(kind="bwrap"))  # the real one works


def test_unisolated_runs_work_in_memory_and_leave_no_folder(monkeypatch, tmp_path):
    """`sandbox: none` puts each run's folder under /dev/shm when it can (removing folders on a
    disk cost more than the runs), else in the temporary folder; either way it goes afterwards."""
    from curate.verifiers import sandbox
    from curate.verifiers.code import harness_source

    files = {"harness.py": harness_source(), "program.py": "import os\nprint(os.getcwd())\n"}
    assert sandbox._scratch_root() == ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    for root in (sandbox._scratch_root(), str(tmp_path)):
        monkeypatch.setattr(sandbox, "_scratch_root", lambda root=root: root)
        run = Sandbox(kind="none").run(files, ["stdio"])
        folder = Path(run.stdout.decode().strip()).parent
        assert run.returncode == 0 and folder.name.startswith("curate-box-") and not folder.exists()
        assert root is None or folder.parent == Path(root)


def test_the_harness_reads_and_writes_json_without_the_json_package():
    """Importing json (and re with it) cost 8 ms of a 13 ms run: the harness uses the C scanner
    and its own writer, which agree with json on every value it exchanges."""
    from curate.verifiers import harness_wire

    values = [{"a": [1, 2.5, None, True, False, "x\u00e9\ud800\n\"", {"b": []}], "n": -3}, [], "s", [[(1, "t")]]]
    for value in values:
        assert repr(json.loads(harness_wire.dumps(value))) == repr(json.loads(json.dumps(value)))
        assert repr(harness_wire.loads(json.dumps(value).encode())) == repr(json.loads(json.dumps(value)))
    assert str(harness_wire.loads(" [NaN, -Infinity] \n")) == "[nan, -inf]"
    for bad in ("", "[1] x", "{"):
        with pytest.raises(ValueError):
            harness_wire.loads(bad)
    saved = list(harness_wire._JSON)
    harness_wire._JSON[:] = [None, json]  # a Python without _json: the json package does it all
    try:
        assert harness_wire.loads(json.dumps(values[0])) == json.loads(json.dumps(values[0]))
        assert harness_wire.dumps(values[0]) == json.dumps(values[0])
    finally:
        harness_wire._JSON[:] = saved
    spec = {"type": "call", "fn_name": "f", "tests": [{"args": [0], "expected": []}]}
    program = "import sys\ndef f(x):\n    return sorted(m for m in ('json', 're') if m in sys.modules)\n"
    assert judge(spec, program) == ("pass", {"verifier": "code", "test_type": "call",
                                             "reason": "1 call tests passed", "runs": 1})
