"""The LLM judge in the stages: verify's fallback for rows proofs cannot settle, and decontam's
second look for paraphrases. Both are optional config blocks (`judge:`, `paraphrase:`), off
unless given; the judge itself (rubrics, reply parsing, cache) is `curate.teachers.judge`.

verify: rows whose symbolic verdict is in `verdicts` (no_answer, bad_reference, unverified by
default) and that have both a gold (`reference`) and a non-empty `answer` are sent as (problem,
gold, final answer). A YES becomes `judge_pass`, a NO `judge_fail`; the verdict a proof gave is
kept in `verify_detail.judge.replaces`, and `pass_rate` still counts proofs only. A reply
without a clear verdict leaves the row's verdict as it was, with `judge.reason: judge_unparsed`.
Code rows are never judged (tests, not opinions, decide those).

decontam: rows without an n-gram hit get their `top_k` most similar benchmark items (word overlap
or character n-gram TF-IDF cosine >= `min_similarity`, `curate.decontam.similar`); each pair is
asked "same problem, rephrased?". A YES adds the item to the row's `contaminated` list and a hit record of
kind `paraphrase` with the judge's reply to the report.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from curate.schema import dumps
from curate.stages.base import PartContext
from curate.teachers.judge import ANSWER_RUBRIC, PARAPHRASE_RUBRIC, Judge, JudgeConfig, cut

JUDGE_CACHE = "judge.sqlite"


class VerifyJudgeConfig(JudgeConfig):
    """verify's `judge:` block: which rows go to the judge, and the judge's teacher."""

    verdicts: list[str] = Field(
        default_factory=lambda: ["no_answer", "bad_reference", "unverified"],
        description="Symbolic verdicts the judge may settle (rows need a reference and a non-empty answer).")
    judge_domains: list[str] | None = Field(
        None, description="Judge only rows of these domains (default: every domain except code).")


class ParaphraseConfig(JudgeConfig):
    """decontam's `paraphrase:` block: candidate selection, and the judge's teacher."""

    field: str = Field("problem", description="Row field compared with the benchmark items' problems.")
    top_k: int = Field(3, ge=1, le=50, description="Benchmark items per row sent to the judge.")
    similarity: Literal["words", "tfidf", "both"] = Field(
        "words", description="How candidates are chosen: words (Jaccard of word sets), tfidf (character "
        "n-gram TF-IDF cosine), both (each proposes its top_k).")
    min_similarity: float = Field(
        0.1, ge=0, le=1, description="Minimum similarity of a candidate pair (on the method's 0..1 scale).")
    ngram: int = Field(4, ge=2, le=8, description="Character n-gram size of the tfidf similarity.")


# ---------------------------------------------------------------- verify


def judge_verdicts(table: pa.Table, config: VerifyJudgeConfig | None, verifiers: dict[str, str],
                   ctx) -> pa.Table:
    """Settle the rows proofs could not, with the judge; other rows are untouched."""
    if config is None or not table.num_rows:
        return table
    rows = table.select(["domain", "problem", "reference", "answer", "verdict", "verify_detail"]).to_pylist()
    chosen = [i for i, row in enumerate(rows) if _eligible(row, config, verifiers)]
    if not chosen:
        return table
    questions = [{"problem": cut(rows[i]["problem"], config.max_chars),
                  "gold": cut(rows[i]["reference"], config.max_chars),
                  "answer": cut(rows[i]["answer"], config.max_chars, keep="tail")} for i in chosen]
    judge = Judge(config, ANSWER_RUBRIC, cache_path=_cache(ctx), lock_dir=_lock_dir(ctx))
    verdicts = [row["verdict"] for row in rows]
    details = [row["verify_detail"] for row in rows]
    for i, judgement in zip(chosen, judge.ask(questions, ctx.counters)):
        old = rows[i]["verdict"]
        new = old if judgement.decision is None else ("judge_pass" if judgement.decision else "judge_fail")
        detail = json.loads(details[i]) if details[i] else {}
        detail["judge"] = {**judgement.record(), "replaces": old, "replaces_reason": detail.get("reason")}
        if new != old:  # the top-level reason explains the verdict the row now has
            detail["reason"] = f"LLM judge ({judgement.rubric.label}) says {'YES' if judgement.decision else 'NO'}"
        verdicts[i], details[i] = new, dumps(detail)
        ctx.counters[f"verdict: {old}"] -= 1
        ctx.counters[f"verdict: {new}"] += 1
    for name, values in (("verdict", verdicts), ("verify_detail", details)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
    return table


def _eligible(row: dict[str, Any], config: VerifyJudgeConfig, verifiers: dict[str, str]) -> bool:
    domain = row["domain"] or ""
    if config.judge_domains is not None and domain not in config.judge_domains:
        return False
    if verifiers.get(domain) == "code":
        return False
    return (row["verdict"] in config.verdicts and bool((row["reference"] or "").strip())
            and bool((row["answer"] or "").strip()))


# ---------------------------------------------------------------- decontam

_SIMILARITY: dict[tuple, Any] = {}  # (artifacts, field settings) -> SimilarityIndex, per process


def judge_paraphrases(index, table: pa.Table, found: list, decontam, ctx) -> list:
    """`found` (each row's hit keys) plus the benchmark items the judge calls rephrased copies;
    `decontam` is the stage's config (its `paraphrase` block, `mode`, `max_report_hits`)."""
    config: ParaphraseConfig | None = decontam.paraphrase
    if config is None or config.field not in table.column_names or not table.num_rows:
        return found
    texts = table.column(config.field).to_pylist()
    similar = _similarity(index, config, ctx)
    pairs = [(row, item, score) for row, text in enumerate(texts) if not found[row] and text
             for item, score in similar.top(text, config.top_k, config.min_similarity)]
    ctx.counters["paraphrase_candidates"] += len(pairs)
    if not pairs:
        return found
    questions = [{"text": cut(texts[row], config.max_chars), "item": cut(index.items[item].problem, config.max_chars)}
                 for row, item, _ in pairs]
    judge = Judge(config, PARAPHRASE_RUBRIC, cache_path=_cache(ctx), lock_dir=_lock_dir(ctx))
    out = list(found)
    ids = table.column("id").to_pylist() if "id" in table.column_names else list(range(table.num_rows))
    extras = {c: table.column(c).to_pylist() for c in ("trace_id", "sample_idx", "source") if c in table.column_names}
    records = ctx.stats.setdefault("decontam_hits", [])
    items_hit = set(ctx.stats.get("items_hit", []))
    for (row, item, score), judgement in zip(pairs, judge.ask(questions, ctx.counters)):
        if not judgement.decision:
            continue
        key = index.items[item].key
        out[row] = set(out[row]) | {key}
        items_hit.add(key)
        ctx.counters["paraphrase_hits"] += 1
        if decontam.mode == "flag":
            continue
        if len(records) >= decontam.max_report_hits:
            ctx.stats["hits_not_listed"] = ctx.stats.get("hits_not_listed", 0) + 1
            continue
        records.append(_paraphrase_record(index.items[item], texts[row], score, judgement, config,
                                          row_id=ids[row], extra={k: v[row] for k, v in extras.items()}))
    ctx.stats["items_hit"] = sorted(items_hit)
    return out


def judge_max_parallel(config: JudgeConfig | None) -> int | None:
    """Parts at once for a stage with this judge: an in-process engine is one per worker, so
    one part at a time on a machine (like `generate`); a server judge sets no limit."""
    return 1 if config is not None and config.teacher == "vllm" else None


def _paraphrase_record(item, text: str, score: float, judgement, config: ParaphraseConfig, *, row_id,
                       extra: dict) -> dict[str, Any]:
    """A hit record shaped like the n-gram ones (`curate.decontam.match.hit_record`), no spans."""
    excerpt = cut(text, 600)
    return {"benchmark": item.benchmark, "item_id": item.id, "row_id": row_id, "field": config.field, **extra,
            "kind": "paraphrase", "n": None, "share": round(score, 4), "similarity": round(score, 4),
            "similarity_method": config.similarity,
            "excerpt": excerpt, "excerpt_start": 0, "excerpt_spans": [],
            "item_problem": item.problem, "item_spans": [], "judge": judgement.record()}


def _similarity(index, config: ParaphraseConfig, ctx):
    from curate.decontam.similar import SimilarityIndex

    key = (str(ctx.artifacts) if ctx.artifacts else id(index), len(index.items), config.ngram, config.similarity)
    if key not in _SIMILARITY:
        _SIMILARITY.clear()  # one benchmark set per process at a time
        _SIMILARITY[key] = SimilarityIndex([item.problem for item in index.items], n=config.ngram,
                                           method=config.similarity)
    return _SIMILARITY[key]


def _cache(ctx):
    scratch = ctx.scratch if isinstance(ctx, PartContext) else None
    return scratch / JUDGE_CACHE if scratch else None


def _lock_dir(ctx):
    scratch = ctx.scratch if isinstance(ctx, PartContext) else None
    return scratch.parent if scratch else None
