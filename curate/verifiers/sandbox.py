"""Run one untrusted program in a bubblewrap sandbox, with limits enforced from outside.

Isolation (bwrap): new user, pid, network, ipc, uts and cgroup namespaces; a read-only view of
only what the interpreter needs (its own file, /usr/lib and the /lib links, the Python prefix's
lib); /proc and a minimal /dev; a private, size-capped tmpfs as the working folder (the only writable place); an
empty environment; `--die-with-parent` and a new session. The sandbox's own root is remounted
read-only, so /tmp is the one writable place. Files (the program, the harness, test
data) are copied in read-only from memfds.

bwrap itself runs as an unprivileged uid picked from a rotating range, not as root: a user
namespace made by root maps to root outside, where RLIMIT_NPROC does not apply, so a fork bomb
would be unbounded. Each sandbox leaves a zombie that only PID 1 reaps (slowly, in containers),
and those count against the uid's process limit, hence the rotation. The switch to that uid is
done by `setpriv` when we are root (Popen's own switch would rule out vfork, see `as_user`).
The harness goes in as bytecode compiled once by the sandbox's interpreter (`_bytecode`).

Limits: the harness sets RLIMIT_AS, CPU, FSIZE, NOFILE and NPROC before any candidate code runs;
the parent enforces the wall-clock deadline by killing bwrap's process group (its pid-namespace
init dies with it, and with it every process inside), and caps stdout and stderr (64 MiB each by
default; a flood is killed and the run fails). The harness then installs a seccomp filter that
makes execve fail, and the filesystem view holds the interpreter's own file, its standard library
and shared libraries only (no /bin, no shell): the interpreter is the only program that runs.
`kind="none"` runs the same harness without isolation (trusted code only; never the default).
"""

from __future__ import annotations

import itertools
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

UID_BASE, UID_SPAN = 200_000, 4096
PIPE_SAFE = 4096  # bytes of stdin written inline; more goes through a thread
BOX = "/box"  # read-only folder holding the program and the harness
_uids = itertools.count((os.getpid() * 7919) % UID_SPAN)


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits."""

    timeout: float = 5.0  # wall clock, enforced by the parent
    memory_mb: int = 1024  # address space
    file_mb: int = 16  # largest file the program may write
    scratch_mb: int = 64  # size of the writable tmpfs
    open_files: int = 64
    processes: int = 32  # per sandbox uid
    max_output: int = 64 << 20  # bytes on stdout, and on stderr; more kills the run (a fail)

    def cpu_seconds(self) -> int:
        return int(self.timeout) + 1


@dataclass
class RunResult:
    """What came back from one sandboxed run: plain bytes and facts, nothing to trust."""

    stdout: bytes
    stderr: bytes
    returncode: int | None
    timed_out: bool = False
    output_capped: str = ""  # which stream went over the cap, e.g. "stdout over 64 MiB"
    seconds: float = 0.0

    @property
    def setup_failed(self) -> bool:
        """bwrap refused before the program ran (say, no user namespaces)."""
        return self.returncode == 1 and self.stderr.startswith(b"bwrap:")


def default_python() -> str:
    """This interpreter if an unprivileged uid can reach it, else the system one."""
    if _world_readable(Path(sys.base_prefix)):
        return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}")
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    return sys.executable


def _world_readable(path: Path) -> bool:
    for part in [path, *path.parents]:
        if not os.stat(part).st_mode & stat.S_IXOTH:
            return False
    return True


def bwrap_available() -> bool:
    return shutil.which("bwrap") is not None


@cache
def _bwrap() -> str:
    """bwrap's absolute path: setpriv would otherwise search an empty environment's default PATH."""
    return shutil.which("bwrap") or "bwrap"


class Sandbox:
    """Runs `python -I -S harness args` with files under /box, isolated unless kind='none'."""

    def __init__(self, *, kind: Literal["bwrap", "none"] = "bwrap", python: str | None = None):
        self.kind = kind
        self.python = python or default_python()
        self._prefix = str(Path(os.path.realpath(self.python)).parent.parent)

    def run(self, files: dict[str, str | bytes], args: list[str], *, stdin: bytes = b"",
            limits: Limits = Limits()) -> RunResult:
        """Run the harness `files['harness.py']` with `args`; returns output and exit facts."""
        files = _with_bytecode(files, self.python)
        if self.kind == "none":
            return self._run_unisolated(files, args, stdin, limits)
        fds, argv = self._bwrap_argv(files, args, limits)
        uid = UID_BASE + next(_uids) % UID_SPAN
        try:
            return _execute(as_user(uid) + argv, stdin, limits, pass_fds=fds) if _setpriv() else \
                _execute(argv, stdin, limits, user=uid, pass_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _bwrap_argv(self, files, args, limits: Limits) -> tuple[list[int], list[str]]:
        argv = [_bwrap(), "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
                "--setenv", "LANG", "C.UTF-8", "--hostname", "sandbox", *interpreter_view(self.python)]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.scratch_mb << 20),
                 "--tmpfs", "/tmp", "--dir", BOX]
        fds = []
        for name, content in sorted(files.items()):
            fd = os.memfd_create(f"box-{name}", 0)
            os.write(fd, content.encode() if isinstance(content, str) else content)
            os.lseek(fd, 0, os.SEEK_SET)
            fds.append(fd)
            argv += ["--ro-bind-data", str(fd), f"{BOX}/{name}"]
        argv += ["--remount-ro", "/", "--chdir", "/tmp", "--", self.python, "-I", "-S", f"{BOX}/{_entry(files)}", *args,
                 *_limit_args(limits)]
        return fds, argv

    def _run_unisolated(self, files, args, stdin: bytes, limits: Limits) -> RunResult:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="curate-box-", dir=_scratch_root()) as tmp:
            box = Path(tmp) / "box"
            box.mkdir()
            for name, content in files.items():
                (box / name).write_bytes(content.encode() if isinstance(content, str) else content)
            work = Path(tmp) / "work"
            work.mkdir()
            argv = [self.python, "-I", "-S", str(box / _entry(files)), *args, *_limit_args(limits),
                    "--box", str(box)]
            return _execute(argv, stdin, limits, cwd=str(work), env={"PATH": "/usr/bin:/bin", "HOME": str(work)})


@cache
def _scratch_root() -> str | None:
    """Where an unisolated run's folders go: /dev/shm (memory) when writable, else the default
    temporary folder. On a disk, removing a run's folder costs more than the run: ~8 ms of
    unlinks on ext4 (with `discard`), and the next program start waits on them too (a 12 ms
    run took 30), so 55 small runs cost 2 s instead of 0.65. bwrap runs are unaffected: their
    files are memfds and their scratch a tmpfs of its own, the size cap bwrap gives."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


@cache
def interpreter_view(python: str) -> tuple[str, ...]:
    """bwrap arguments that show the interpreter, its standard library and shared libraries, and
    no other program: no shell, no /bin or /usr/bin (the interpreter's own file is bound alone)."""
    view: list[str] = []
    for name in ("usr/lib", "usr/lib64", "usr/lib32", "lib", "lib64", "lib32"):
        host = Path("/") / name
        if host.is_symlink():
            view += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            view += ["--ro-bind", str(host), f"/{name}"]
    real = os.path.realpath(python)
    prefix = Path(real).parent.parent
    if not str(prefix).startswith("/usr"):
        for lib in ("lib", "lib64"):
            if (prefix / lib).is_dir():
                view += ["--ro-bind", str(prefix / lib), str(prefix / lib)]
    view += ["--ro-bind", real, real]
    link = Path(python)
    while link.is_symlink() and str(link) != real:  # /usr/bin/python3 -> python3.11 stays callable
        view += ["--symlink", os.readlink(link), str(link)]
        link = link.parent / os.readlink(link)
    return tuple(view)


def _entry(files: dict) -> str:
    return "harness.pyc" if "harness.pyc" in files else "harness.py"


def _with_bytecode(files: dict[str, str | bytes], python: str) -> dict[str, str | bytes]:
    """The harness as bytecode for this interpreter (compiling its source costs each run more
    than starting the sandbox's namespaces does); the source stays when that cannot be done."""
    source = files.get("harness.py")
    code = _bytecode(python, source) if isinstance(source, str) else None
    if not code:
        return files
    return {**{k: v for k, v in files.items() if k != "harness.py"}, "harness.pyc": code}


@lru_cache(maxsize=8)
def _bytecode(python: str, source: str) -> bytes | None:
    """A .pyc image of `source` made by `python` itself (its magic number, its marshal format)."""
    compiler = ("import importlib.util, marshal, sys; code = compile(sys.stdin.buffer.read(), '/box/harness.py', "
                "'exec'); sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))")
    try:
        done = subprocess.run([python, "-I", "-S", "-c", compiler], input=source.encode(), capture_output=True,
                              timeout=60, env={})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and len(done.stdout) > 16 else None


def as_user(uid: int) -> list[str]:
    """setpriv drops to `uid` in the child; Popen(user=...) would do it too, but it rules out
    vfork, and forking a parent holding a few hundred MB of tables costs tens of ms per run."""
    return [_setpriv(), f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


@cache
def _setpriv() -> str:
    """setpriv (util-linux) when we are root, so it may switch users; else '' (Popen switches)."""
    return (shutil.which("setpriv") or "") if os.geteuid() == 0 else ""


def _limit_args(limits: Limits) -> list[str]:
    return ["--limits", (f"{limits.memory_mb},{limits.cpu_seconds()},{limits.file_mb},"
            f"{limits.open_files},{limits.processes}")]


def _execute(argv: list[str], stdin: bytes, limits: Limits, *, user: int | None = None,
             pass_fds=(), cwd: str | None = None, env: dict | None = None) -> RunResult:
    """Start, feed stdin, read capped output, kill the whole group at the deadline."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, pass_fds=pass_fds, cwd=cwd, env=env if env is not None else {},
                            user=user, group=user, extra_groups=[] if user is not None else None)
    out, err, capped, timed_out = _communicate(proc, stdin, limits, started)
    if capped or timed_out:
        _kill(proc)
    returncode = proc.wait()
    return RunResult(stdout=bytes(out), stderr=bytes(err[-8192:]), returncode=returncode, timed_out=timed_out,
                     output_capped=capped, seconds=time.monotonic() - started)


def _communicate(proc, stdin: bytes, limits: Limits, started: float):
    """Read both pipes until EOF or the deadline; a stream over `max_output` bytes stops the run
    (stderr counts too: a functional candidate's prints go there)."""
    out, err = bytearray(), bytearray()
    totals = {id(out): 0, id(err): 0}
    sel = selectors.DefaultSelector()
    if len(stdin) <= PIPE_SAFE:
        _feed(proc.stdin, stdin)  # fits the pipe buffer: cannot block
    else:  # a program that never reads its input must not stall us past the deadline
        threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    capped, timed_out = "", False
    while sel.get_map():
        left = limits.timeout - (time.monotonic() - started)
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=left):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            key.data.extend(chunk)
            totals[id(key.data)] += len(chunk)
            if len(err) > 65536:
                del err[:-8192]
        over = [name for name, buf in (("stdout", out), ("stderr", err)) if totals[id(buf)] > limits.max_output]
        if over:
            capped = f"{over[0]} over {_size(limits.max_output)}"
            del out[limits.max_output:]
            break
    sel.close()
    return out, err, capped, timed_out


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    try:
        pipe.close()
    except (BrokenPipeError, OSError):
        pass


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
