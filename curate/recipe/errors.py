"""Recipe errors a user can act on: every pydantic problem of a YAML file as `file:line: key:
message`, with the nearest valid key suggested for an unknown field (`curate.recipe` validates,
this module words what it found)."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError

from curate.errors import RecipeError
from curate.recipe.lazy import LazyModel


def validation_error(exc: ValidationError, model, lines: dict[tuple, int], filename: str) -> RecipeError:
    """Every problem of a pydantic error on `model` (a recipe-like YAML file), with lines and hints."""
    return combined_error(pydantic_problems(exc, (), model, lines, filename), filename)


def combined_error(problems: list[tuple[str, str | None]], filename: str) -> RecipeError:
    """One problem: its message and hint. Several: every one on its own line, hints inline."""
    if len(problems) == 1:
        return RecipeError(*problems[0])
    listed = "\n".join(f"  {text}" + (f" ({hint})" if hint else "") for text, hint in problems)
    return RecipeError(f"{len(problems)} problems in {filename}:\n{listed}",
                       "Fix them all, then check with `curate recipe validate`.")


def pydantic_problems(exc: ValidationError, prefix: tuple, model, lines, filename,
              stage=None) -> list[tuple[str, str | None]]:
    """Every error pydantic found, as (`file:line: key: message`, hint), in file order."""
    found = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        line = _nearest_line(lines, loc)
        message, hint = err["msg"], None
        if err["type"] == "extra_forbidden":
            message = "unknown field"
            fields = _fields_at(model, tuple(err["loc"])[:-1])
            close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"valid fields: {', '.join(fields)}"
        elif err["type"] == "missing":
            message = "required field is missing"
        found.append((line if isinstance(line, int) else 0,
                      f"{filename}:{line}: {_format_loc(loc, stage)}: {message}", hint))
    return [(text, hint) for _, text, hint in sorted(found, key=lambda f: f[0])]


def _fields_at(model, loc: tuple) -> list[str]:
    """Field names of the (nested) model that `loc` points into."""
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        lazy = [m.model() for m in getattr(field, "metadata", ()) if isinstance(m, LazyModel)]
        model = _model_in(annotation) or (lazy[0] if lazy else None)
    return sorted(model.model_fields) if model else []


def _model_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found:
            return found
    return None


def _nearest_line(lines: dict[tuple, int], loc: tuple):
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return "?"


def _format_loc(loc: tuple, stage: str | None) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if stage and i == 1 and loc[0] == "stages":
                out += f" ({stage})"
        else:
            out += f".{part}" if out else str(part)
    return out
