# ruff: noqa: S102, S110, BLE001, SIM115 - runs untrusted code on purpose, catches all
"""Sandbox-side harness: runs a candidate program and reports PLAIN DATA only; never judges.

This file is copied into the sandbox after the plain-value codec it uses (`harness_wire`:
`curate.verifiers.code.harness_source` joins the two) and run as `python -I -S /box/harness.py
MODE`; in there it imports nothing from curate. Modes:

- `stdio`:  run /box/program.py as __main__ (its stdout is the result; the parent compares).
  The other modes read {"spec": ..., "nonce": ...} from stdin and sign each report with the nonce.
- `call`:   define the program, call `fn_name` on each test's args, report the return values.
- `record`: HumanEval-style phase 1: run `check(candidate)` from the test code with a proxy that
            calls the real function and records each call's name, arguments and plain return
            value. Other names the test (or the problem's context) calls but leaves undefined,
            and the candidate defines, get proxies too (`sort_third`, `decode_cyclic`).
- `replay`: phase 2, in a separate sandbox WITHOUT the candidate's code: run `check` again,
            answering each call from the recording; only trusted code (the tests, the problem's
            context) runs here, so its asserts are honest. The parent reads {"passed": true}
            from this run alone.

Values cross as tagged JSON of exact builtin types only (`harness_wire`), so an always-equal
object or a patched builtin cannot become a pass. References to the functions this file needs
(os.write, os._exit, type, ...) are taken before any candidate code runs. Reports go to a
private copy of the original stdout; the candidate's own prints are sent to stderr. The harness
ends with os._exit, so atexit hooks and lingering threads never run after the report.
"""

import builtins
import os
import sys

if __name__ != "__main__":  # imported by curate; run as the sandbox's script, the codec's text came first
    from curate.verifiers.harness_wire import Unserialisable, dec, dumps, enc, loads

_type, _len, _repr, _write, _exit, _sorted = type, len, repr, os.write, os._exit, sorted
_BUILTINS = dict(builtins.__dict__)


def report(chan, text):
    data = (text + "\n").encode()
    while data:
        data = data[_write(chan, data):]


def set_limits(spec):
    import resource

    mem, cpu, fsize, nofile, nproc = (int(v) for v in spec.split(","))
    for name, value in (("RLIMIT_AS", mem << 20), ("RLIMIT_CPU", cpu), ("RLIMIT_FSIZE", fsize << 20),
                        ("RLIMIT_NOFILE", nofile), ("RLIMIT_NPROC", nproc), ("RLIMIT_CORE", 0)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass


_SECCOMP_ARCH = {"x86_64": (0xC000003E, 59, 322), "aarch64": (0xC00000B7, 221, 281)}  # audit arch, execve(at)


def forbid_exec():
    """A seccomp filter under which execve/execveat fail (EACCES): the interpreter already
    running is the only program the candidate gets; no shell, no /bin/ls, no binary it wrote.
    Foreign syscall ABIs (i386 int 0x80, x32) are refused whole, so they cannot go around it.
    Built on _ctypes directly: the ctypes package costs ~5 ms of imports per run."""
    import _ctypes
    import struct

    audit, execve, execveat = _SECCOMP_ARCH[os.uname().machine]
    deny, allow = 0x00050000 | 13, 0x7FFF0000  # SECCOMP_RET_ERRNO | EACCES, SECCOMP_RET_ALLOW
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    program = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, deny), (ld, 0, 0, 0), (jge, 3, 0, 0x40000000),
               (jeq, 2, 0, execve), (jeq, 1, 0, execveat), (ret, 0, 0, allow), (ret, 0, 0, deny)]

    class Char(_ctypes._SimpleCData):
        _type_ = "c"

    class ULong(_ctypes._SimpleCData):
        _type_ = "L"

    class Int(_ctypes._SimpleCData):
        _type_ = "i"

    class Libc:
        _handle = _ctypes.dlopen(None, os.RTLD_NOW)

    class Fn(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = Int
        _argtypes_ = (Int, ULong, ULong, ULong, ULong)

    def memory(data):
        return _type("Buf", (_ctypes.Array,), {"_type_": Char, "_length_": _len(data)}).from_buffer_copy(data)

    prctl = Fn(("prctl", Libc))
    code = memory(b"".join(struct.pack("=HBBI", *op) for op in program))
    fprog = memory(struct.pack("=H6xQ", _len(program), _ctypes.addressof(code)))  # struct sock_fprog
    if prctl(38, 1, 0, 0, 0) or prctl(22, 2, _ctypes.addressof(fprog), 0, 0):  # NO_NEW_PRIVS, SET_SECCOMP
        raise OSError(_ctypes.get_errno(), "prctl refused the seccomp filter")


def load_program(box, context=""):
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    if context:  # the problem's own definitions come first (HumanEval: prompt + completion)
        exec(compile(context, "problem.py", "exec"), namespace)
    source = open(os.path.join(box, "program.py")).read()
    exec(compile(source, "program.py", "exec"), namespace)
    return namespace


def test_namespace(spec, builtins_dict=None):
    """The trusted side: the problem's context minus its open names, then the test code."""
    namespace = {"__name__": "__test__"}
    if builtins_dict is not None:
        namespace["__builtins__"] = builtins_dict
    codes = [compile(spec["test"], "test.py", "exec")]
    if spec.get("context"):
        codes.insert(0, compile(spec["context"], "problem.py", "exec"))
        exec(codes[0], namespace)
        for name in spec.get("open", []):
            namespace.pop(name, None)
    exec(codes[-1], namespace)
    return namespace, codes


def free_names(codes, namespace):
    """Global names the trusted code refers to that it leaves undefined (not builtins either)."""
    seen, stack = set(), list(codes)
    while stack:
        code = stack.pop()
        seen.update(code.co_names)
        stack.extend(c for c in code.co_consts if _type(c) is _type(code))
    return _sorted(n for n in seen if n not in namespace and n not in _BUILTINS)


def find_function(namespace, name):
    fn = namespace.get(name)
    if fn is None and _type(namespace.get("Solution")) is _type:  # LeetCode style
        fn = getattr(namespace["Solution"](), name, None)
    if fn is None:
        raise NameError(f"the program defines no function {name!r}")
    return fn


def outcome(fn, args):
    """'v' with the encoded return value, or 'raised' with the exception type's name."""
    try:
        value = fn(*args)
    except BaseException as exc:  # SystemExit too: exiting is not passing
        return {"raised": _type(exc).__name__}
    try:
        return {"v": enc(value)}
    except Unserialisable as exc:
        return {"unserialisable": str(exc)}


def mode_call(box, spec, out):
    records = []
    try:
        fn = find_function(load_program(box), spec["fn_name"])
    except BaseException as exc:
        out(dumps({"setup_error": f"{_type(exc).__name__}: {str(exc)[:200]}"}))
        return
    for test in spec["tests"]:
        records.append(outcome(fn, [dec(a) for a in test["args"]]))
    out(dumps({"results": records, "done": True}))


def mode_record(box, spec, out):
    import random

    calls, names = [], []
    try:
        program = load_program(box, spec.get("context", ""))
        fn = find_function(program, spec["entry_point"])
    except BaseException as exc:
        out(dumps({"setup_error": f"{_type(exc).__name__}: {str(exc)[:200]}"}))
        return

    def proxy(name, target):
        def candidate(*args):
            before = enc(list(args))
            result = outcome(target, args)
            calls.append({"name": name, "args": before, "after": enc(list(args)), **result})
            if "v" in result:
                return dec(loads(result["v"]))
            raise RuntimeError("candidate call did not return a plain value")
        return candidate

    random.seed(0)
    try:
        namespace, codes = test_namespace(spec, dict(_BUILTINS))
        for name in free_names(codes, namespace):  # a test may call any name the candidate defines
            if name in program and callable(program[name]):
                names.append(name)
                namespace[name] = proxy(name, program[name])
        namespace["check"](proxy(spec["entry_point"], fn))
    except BaseException:
        pass  # phase 1 never judges; the replay does
    out(dumps({"calls": calls, "names": names, "done": True}))


def mode_replay(spec, out):
    import random

    calls, position = spec["calls"], [0]

    def proxy(name):
        def candidate(*args):
            i = position[0]
            if i >= _len(calls):  # an honest recording runs as far as its replay: check() stopped early
                raise AssertionError("the tests stopped early while recording, beside the candidate")
            if calls[i].get("name", name) != name or enc(list(args)) != calls[i]["args"]:
                raise AssertionError("test is not replayable: calls differ from the recording")
            position[0] += 1
            for arg, after in zip(args, dec(loads(calls[i]["after"]))):
                _apply_mutation(arg, after)
            if "v" not in calls[i]:
                exc = getattr(builtins, calls[i].get("raised", ""), None)
                raise exc() if isinstance(exc, type) and issubclass(exc, Exception) else RuntimeError(calls[i])
            return dec(loads(calls[i]["v"]))
        return candidate

    random.seed(0)
    try:
        namespace, codes = test_namespace(spec)
        recorded = set(spec.get("names", []))
        for name in free_names(codes, namespace):  # only names the trusted code leaves undefined
            if name in recorded:
                namespace[name] = proxy(name)
        namespace["check"](proxy(spec["entry_point"]))
        out(dumps({"passed": True, "calls": position[0]}))
    except BaseException as exc:
        out(dumps({"passed": False, "error": f"{_type(exc).__name__}: {str(exc)[:200]}"}))


def _apply_mutation(arg, after):
    """Tests may check in-place changes (`candidate(lst); assert lst == ...`)."""
    if _type(arg) is list and _type(after) is list:
        arg[:] = after
    elif _type(arg) is dict and _type(after) is dict or _type(arg) is set and _type(after) is set:
        arg.clear()
        arg.update(after)


def main(argv):
    mode = argv[1]
    box = argv[argv.index("--box") + 1] if "--box" in argv else "/box"
    chan = os.dup(1)
    if mode != "stdio":
        # The spec and the run's nonce arrive on stdin and are read before any candidate code
        # runs: the candidate can neither re-read the tests nor sign a forged report.
        message = loads(sys.stdin.buffer.read())
        spec, nonce = message["spec"], message["nonce"]
        os.dup2(2, 1)  # the candidate's prints go to stderr; reports go to `chan`

        def out(text):
            """Report `text` (a JSON object) on the reports channel, signed with the run's nonce."""
            report(chan, text[:-1] + ',"nonce":"' + nonce + '"}')

    set_limits(argv[argv.index("--limits") + 1])
    try:
        forbid_exec()
    except BaseException as exc:  # fail closed: no run without the filter
        os.write(2, f"curate-harness: cannot forbid exec here: {_type(exc).__name__}: {exc}\n".encode())
        _exit(3)
    if mode == "stdio":
        run_stdio(box)
        return
    if mode == "call":
        mode_call(box, spec, out)
    elif mode == "record":
        mode_record(box, spec, out)
    else:
        mode_replay(spec, out)
    _exit(0)


def run_stdio(box):
    """Run the program as a normal script would run: non-daemon threads are waited for,
    exit codes and atexit hooks behave as usual (their output is judged like any other).
    (exec rather than runpy: runpy's imports cost more than the rest of the harness.)"""
    path = os.path.join(box, "program.py")
    sys.argv = [path]
    with open(path) as handle:
        code = compile(handle.read(), path, "exec")
    exec(code, {"__name__": "__main__", "__file__": path, "__builtins__": builtins})


if __name__ == "__main__":
    main(sys.argv)
