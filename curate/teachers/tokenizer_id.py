"""A tokenizer's identity: name, revision, vocabulary size and a hash of its vocabulary.

Per-token log-probabilities only mean something next to the tokenizer that made the ids, and a
teacher can score a student's tokens only when both map ids to the same strings. The identity
is recorded (JSON, the `tokenizer` column) beside every token array; `check_same` compares two
and names what differs.
"""

from __future__ import annotations

import json
from typing import Any

from curate.errors import CurateError
from curate.fingerprint import digest


def identity(tokenizer, *, name: str, revision: str | None) -> dict[str, Any]:
    """The identity of a loaded Hugging Face tokenizer (the vocabulary with added tokens)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return {"name": name, "revision": revision, "vocab_size": len(vocab),
            "vocab_hash": digest(vocab, length=16)}


def identity_json(ident: dict[str, Any]) -> str:
    return json.dumps(ident, sort_keys=True, separators=(",", ":"))


def check_same(student: dict[str, Any], teacher: dict[str, Any], *, vocab: dict | None = None) -> None:
    """Raise unless both identities name the same vocabulary; the error names both and what
    differs (`vocab`, the teacher's token -> id map, finds the first id that differs)."""
    if student.get("vocab_hash") == teacher.get("vocab_hash"):
        return
    what = []
    if student.get("vocab_size") != teacher.get("vocab_size"):
        what.append(f"vocabulary size {student.get('vocab_size')} vs {teacher.get('vocab_size')}")
    what.append(f"vocabulary hash {student.get('vocab_hash')} vs {teacher.get('vocab_hash')}")
    raise CurateError(
        f"the student's tokenizer {_label(student)} and the teacher's tokenizer {_label(teacher)} "
        f"differ: {'; '.join(what)}. A teacher can score a student's tokens only with the same "
        "tokenizer.",
        "Score with a teacher of the student's model family (same tokenizer), or regenerate the "
        "student samples with a student that shares the teacher's tokenizer.")


def _label(ident: dict[str, Any]) -> str:
    return f"'{ident.get('name')}@{ident.get('revision') or 'unpinned'}'"
