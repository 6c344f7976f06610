"""The one error type users see, and its kinds.

Every failure that a user can fix is a `CurateError` with a message (what went wrong, naming the
file, line, column or key) and a hint (what to do next). The CLI turns it into `Error:` / `Hint:`
lines and an exit code at one boundary (`curate.cli`); nothing else prints errors.
"""

from __future__ import annotations


class CurateError(Exception):
    """A user-fixable failure: `message` says what happened, `hint` what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"

    def __reduce__(self):
        # Errors cross process boundaries (worker pools, Ray); keep them picklable whatever
        # a subclass's __init__ signature is.
        # The state keeps attributes set after construction (the part task's `stage_label`).
        return (_rebuild, (type(self), self.message, self.hint), dict(self.__dict__))


def _rebuild(cls, message, hint):
    error = Exception.__new__(cls)
    CurateError.__init__(error, message, hint)
    return error


class RecipeError(CurateError):
    """The recipe is malformed: bad YAML, unknown key, wrong type, unknown stage."""

    exit_code = 2


class InputError(CurateError):
    """Input data is unreadable or does not fit: corrupt file, bad line, missing column."""

    exit_code = 3


class ResumeConflict(CurateError):
    """A run directory holds work made with a different config."""

    exit_code = 4


class MissingExtra(CurateError):
    """An optional dependency is not installed."""

    exit_code = 5

    def __init__(self, module: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed.",
            f"pip install 'curate[{extra}]'",
        )


def require(module: str, extra: str, purpose: str):
    """Import an optional module, or raise `MissingExtra` with the install line.

    >>> np = require("numpy", "dev", "the example")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(module, extra, purpose) from exc


class DiskError(CurateError):
    """The run directory is full, read-only or not writable."""

    exit_code = 6


#: errno values that mean "the disk, not the data": no space, quota, read-only, permission
_DISK_ERRNOS = {28: "no space left on device", 122: "disk quota exceeded",
                30: "read-only file system", 13: "permission denied", 1: "operation not permitted"}
#: the same, for errors that carry only a message (pyarrow's sometimes do)
_DISK_TEXTS = {"No space left on device": 28, "Disk quota exceeded": 122, "Read-only file system": 30,
               "Permission denied": 13}


def disk_errno(error: BaseException) -> int | None:
    """The disk-related errno behind `error` (ENOSPC, EDQUOT, EROFS, EACCES, EPERM), else None."""
    if not isinstance(error, OSError):
        return None
    if error.errno in _DISK_ERRNOS:
        return error.errno
    text = str(error)
    return next((code for phrase, code in _DISK_TEXTS.items() if phrase in text), None)


def disk_error(error: BaseException, doing: str | None, run_dir) -> DiskError | None:
    """`error` as a DiskError saying what was being done (`doing`, e.g. "writing stage 01-filter
    part 3"; None before any work) and what to do next; None when it is not a disk or permission
    error.

    A file outside the run directory (a source being read) is named as such."""
    import os
    import shutil
    from pathlib import Path

    code = disk_errno(error)
    if code is None:
        return None
    run_dir = Path(run_dir)
    name = getattr(error, "filename", None)
    if code in (13, 1) and name and not os.path.abspath(name).startswith(os.path.abspath(run_dir)):
        where = f" (in {doing.split(' ', 1)[-1]})." if doing else "."  # reading, not writing
        return DiskError(f"permission denied: {name}{where}",
                         f"Make {name} readable, then rerun.")
    kept = ": finished parts are kept and only the unfinished ones are redone." if doing else "."
    if code in (28, 122):
        try:
            free = shutil.disk_usage(run_dir).free / 2**20
            room = f"{free:.0f} MB free" if free >= 10 else f"{free:.1f} MB free"
        except OSError:
            room = "free space unknown"
        return DiskError(f"{_DISK_ERRNOS[code]} while {doing or 'preparing the run'} ({room} in {run_dir}).",
                         "Free space (or choose a run directory on a larger disk) and rerun" + kept)
    return DiskError(f"run directory {run_dir} is not writable ({_DISK_ERRNOS[code]})"
                     + (f" while {doing}." if doing else "."),
                     f"Make {run_dir} writable (or choose another run directory) and rerun" + kept)
