"""Readable names for the counters and stats that stages record, as the card and report show them.

Stages name their counters for code (`rows_seen`, `num_perm`, `totals.pass`); a reader of a
dataset card should not have to guess that dedup's `rows: 3` is the rows per LSH band, next to
`rows_seen: 208`. A key without an entry here is shown with its underscores as spaces.
"""

from __future__ import annotations

from typing import Any

#: (stage, key) -> label, for keys whose meaning depends on the stage
BY_STAGE = {
    ("load", "rows"): "rows in the sources",
    ("dedup", "rows"): "MinHash rows per LSH band",
    ("dedup", "bands"): "MinHash LSH bands",
}

#: key -> label, whatever the stage
LABELS = {
    "split_problems": "problems straddling parts (judged whole)",
    "marked_duplicate": "rows marked duplicate",
    "against_units": "texts compared against (earlier runs)",
    "bytes": "bytes of text compared",
    "candidate_pairs": "LSH candidate pairs",
    "clusters": "duplicate clusters",
    "empty_units": "empty texts",
    "exact_duplicate_units": "exact duplicate texts",
    "field": "field compared",
    "level": "compared per",
    "near_pair_jaccard_min": "lowest Jaccard of a near-duplicate pair",
    "near_pairs": "near-duplicate pairs",
    "ngram": "shingle length (n-gram)",
    "num_perm": "MinHash permutations",
    "removed_rows": "rows removed",
    "removed_units": "texts removed",
    "rows_seen": "rows compared",
    "shingle": "shingle unit",
    "threshold": "Jaccard threshold",
    "units": "distinct texts compared",
    "rows_checked": "rows checked",
    "rows_contaminated": "rows contaminated",
    "items": "benchmark items",
    "pack_version": "benchmark pack version",
    "mix_by": "mixed by",
    "mix_seed": "mix seed",
    "mix_total": "rows in the mix",
    "output_tokens": "output tokens",
    "prompts": "problems asked",
    "requests": "requests",
    "requests_cached": "requests answered from the cache",
    "requests_duplicate": "duplicate requests (asked once)",
    "requests_sent": "requests sent to the teacher",
    "samples": "samples written",
}


def label(stage: str, key: str) -> str:
    """The readable name of one counter or stat of `stage`."""
    found = BY_STAGE.get((stage, key)) or LABELS.get(key)
    if found:
        return found
    head, sep, tail = key.partition(":")
    if sep and head in LABELS:  # e.g. rows_contaminated:aime24
        return f"{LABELS[head]}: {tail.strip()}"
    return key.replace("_", " ").replace(".", " ")


def readable_notes(stage: str, notes: dict[str, Any]) -> dict[str, Any]:
    """Notes keyed by readable labels; `totals.X` repeats of `verdict: X` counters left out."""
    out = {}
    for key, value in notes.items():
        if key.startswith("totals.") and f"verdict: {key[len('totals.'):]}" in notes:
            continue
        out.setdefault(label(stage, key), value)
    return out
