"""`curate verify --dry-run`: show what each verifier would compare, without running anything."""

from __future__ import annotations

import json
from typing import Any

from curate.verifiers.math_rows import final_text, prepare_row

ROWS = 10


def preview_rows(rows: list[dict[str, Any]], verifiers: dict[str, str]) -> str:
    lines = []
    for row in rows[:ROWS]:
        verifier = verifiers.get(row.get("domain") or "", "none")
        head = f"{row.get('id')}#{row.get('sample_idx')} [{row.get('domain')} -> {verifier}]"
        lines.append(f"{head}: {_describe(row, verifier)}")
    return "\n".join(lines) if lines else "(no rows)"


def _describe(row: dict[str, Any], verifier: str) -> str:
    if verifier == "math":
        prepared, final = prepare_row(row)
        if final:
            return f"{final['verdict']} ({final['reason']})"
        pred, record = prepared
        shown = pred if isinstance(pred, str) else " | ".join(pred["alternatives"])
        return f"answer {_short(shown)!r} ({record['extraction']}) vs gold {_short(row.get('reference'))!r}"
    if verifier == "code":
        from curate.verifiers.code import extract_program, parse_reference

        try:
            spec = parse_reference(row.get("reference"))
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return f"bad_reference ({exc})"
        text, why = final_text(row)
        program, why_not = extract_program(text) if text else (None, why)
        if program is None:
            return f"no_answer ({why_not})"
        tests = len(spec.get("tests", [])) if spec["type"] != "functional" else "check()"
        return f"{len(program.splitlines())}-line program, {spec['type']} tests: {tests}"
    return "unverified"


def _short(text: Any, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
