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
