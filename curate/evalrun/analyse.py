"""From verified runs to the evaluation result: summaries per model and slice, warnings.

Slices of the problems, each summarised per model with the same bootstrap resamples:
`all`; `fresh` (dated strictly after `after`) when `after` is given; `clean` and `contaminated`
when `train` is given; and one per benchmark and per domain. Dates compare as ISO text, and a
partial date (2024-02) stands for the start of its period, so it is fresh only after 2024-01-31.
Undated items are never fresh; the result counts them.

The result's keys are stable (documented in docs/eval.md); `version` changes when they do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.evalrun.collect import cost, problems, read_rows
from curate.evalrun.config import EvalConfig, model_dir
from curate.evaluation.summary import Problem, Settings, collapse_warning, summarize

RESULT_VERSION = 1


def is_fresh(date: str | None, after: str) -> bool:
    """Strictly after `after`; a partial date is the start of its period.

    >>> is_fresh("2024-02", "2024-01-31"), is_fresh("2024-02", "2024-02-01"), is_fresh(None, "2020")
    (True, False, False)
    """
    if not date:
        return False
    start = date + "-01-01"[len(date) - 4:] if len(date) < 10 else date[:10]
    end = after + "-01-01"[len(after) - 4:] if len(after) < 10 else after[:10]
    return start > end


def slices(items: list[Problem], config: EvalConfig) -> dict[str, list[Problem]]:
    out = {"all": items}
    if config.after:
        out["fresh"] = [p for p in items if is_fresh(p.date, config.after)]
    if config.train:
        out["clean"] = [p for p in items if not p.contaminated]
        out["contaminated"] = [p for p in items if p.contaminated]
    return out


def grouped(items: list[Problem], key: str) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in items:
        out.setdefault(p.groups.get(key, "?"), []).append(p)
    return dict(sorted(out.items()))


def model_result(items: list[Problem], config: EvalConfig, settings: Settings) -> dict[str, Any]:
    result = {name: summarize(chosen, settings) for name, chosen in slices(items, config).items()}
    for key in ("benchmark", "domain"):
        result[f"by_{key}"] = {g: summarize(chosen, settings) for g, chosen in grouped(items, key).items()}
    return result


def analyse(config: EvalConfig, run_dir: Path, *, date_key: str | None) -> dict[str, Any]:
    """The evaluation result (JSON-able, stable keys)."""
    settings = Settings(resamples=config.bootstrap, level=config.level, seed=config.seed, ngram=config.ngram)
    models, results = [], {}
    contaminated: dict[str, list[str]] = {}
    for index, model in enumerate(config.models):
        folder = model_dir(run_dir, model.name)
        rows = read_rows(folder)
        if config.train and index == 0:
            from curate.evalrun.train import contaminated_items

            texts = {r["id"]: r["problem"] or "" for r in rows}
            contaminated = contaminated_items(texts, config.resolve(config.train), n=config.train_ngram)
        items = problems(rows, date_key)
        for p in items:
            p.contaminated = p.id in contaminated
        models.append({"name": model.name, "backend": model.teacher, "model": model.model,
                       "sampling": {**model.sampling(), "n": config.n}, "run": str(folder),
                       "cost": cost(folder, rows)})
        results[model.name] = model_result(items, config, settings)
    baseline = config.baseline_name
    return {"version": RESULT_VERSION, "name": config.name, "n": config.n, "baseline": baseline,
            "settings": {"bootstrap": config.bootstrap, "level": config.level, "seed": config.seed,
                         "ngram": config.ngram, "after": config.after, "train": config.train},
            "eval_set": eval_set_info(config, next(iter(results.values()))),
            "models": models, "results": results,
            "warnings": warnings(results, baseline),
            "contamination": {"train": config.train, "ngram": config.train_ngram, "contaminated": len(contaminated),
                              "items": contaminated} if config.train else None}


def eval_set_info(config: EvalConfig, first: dict[str, Any]) -> dict[str, Any]:
    info = {"benchmark": config.benchmark, "problems": first["all"]["problems"] + first["all"]["unjudged"]}
    if config.dataset is not None:
        info["dataset"] = config.dataset.path
    if "fresh" in first:
        info["fresh_problems"] = first["fresh"]["problems"] + first["fresh"]["unjudged"]
    return info


def warnings(results: dict[str, dict], baseline: str) -> list[dict[str, str]]:
    """Diversity-collapse warnings of every model against the baseline, per slice."""
    out = []
    base = results[baseline]
    for name, result in results.items():
        if name == baseline:
            continue
        for slice_name in ("all", "fresh", "clean"):
            if slice_name in result:
                text = collapse_warning(name, result[slice_name], baseline, base[slice_name])
                if text:
                    out.append({"kind": "diversity_collapse", "model": name, "slice": slice_name,
                                "message": f"{text} [{slice_name}]"})
    return out
