"""The versioned benchmark pack: the evaluations reasoning models are judged on.

`PACK` maps a short name (`aime24`, `math500`, ...) to a `BenchmarkSpec`: where the items live on
the Hub (dataset id, config, split, pinned revision), which fields hold the problem and the
answer, the license and the release date. `PACK_VERSION` changes whenever a spec changes, and it
goes into every decontamination report together with each benchmark's revision, so a report says
exactly what was checked.

Selections are strings, as written on the command line or in a recipe:

- `aime24`, `math500`: a pack name (aliases such as `aime_2024` work too);
- `livecodebench:release_v5`, `livecodebench:2024-08-01..2025-02-01`,
  `livecodebench:release_v6:2024-08-01..`: a version and/or a contest-date window;
- `./my_eval.jsonl`, `evals/x.parquet#problem=question,id=uid`: a local JSONL/Parquet file with
  an optional field mapping (defaults: `id`, `problem`, `answer`).

The specs are data only: parsing selections lives in `select`, loading in `loaders`.

Revisions: where a public, pinned commit id of the Hub dataset could be found it is used; where
none could be found the spec pins `main` and says so in `revision_note`. A pinned `main` is not a
pin: reports record the revision string as given, so upgrade these before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Bump whenever a spec below changes (ids, fields, revisions, version tags).
PACK_VERSION = "2026.11.1"

_NO_PIN = "no public commit id found when the pack was written; `main` is not a fixed revision"
_SEEN = "commit id as pinned in public evaluation code; verify against the Hub before relying on it"


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where one benchmark lives and which of its fields matter for decontamination."""

    name: str
    title: str
    hub_id: str
    split: str
    problem_fields: tuple[str, ...]
    answer_field: str | None
    id_field: str | None
    license: str
    release_date: str
    config: str | None = None
    revision: str = "main"
    revision_note: str = ""
    aliases: tuple[str, ...] = ()
    #: LiveCodeBench: version tag -> data files (cumulative), and the field holding the date
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_version: str | None = None
    date_field: str | None = None
    notes: str = ""

    def describe(self) -> dict:
        """A JSON-able view for `curate benchmarks show` and the reports."""
        out = {k: v for k, v in self.__dict__.items() if v not in (None, (), {}, "")}
        out["versions"] = sorted(self.versions) if self.versions else None
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items() if v is not None}


def _lcb_versions() -> dict[str, tuple[str, ...]]:
    files = [f"test{'' if i == 1 else i}.jsonl" for i in range(1, 7)]
    return {f"release_v{i}": tuple(files[:i]) for i in range(1, 7)}


_SPECS = [
    BenchmarkSpec(
        name="aime24", title="AIME 2024 (I and II)", hub_id="HuggingFaceH4/aime_2024", split="train",
        problem_fields=("problem",), answer_field="answer", id_field="id",
        license="unknown (problems (c) MAA; see the dataset card)", release_date="2024-02",
        revision="2fe88a2f1091d5048c0f36abc874fb997b3dd99a", revision_note=_SEEN,
        aliases=("aime_2024", "aime2024")),
    BenchmarkSpec(
        name="aime25", title="AIME 2025 (I and II)", hub_id="yentinglin/aime_2025", split="train",
        problem_fields=("problem",), answer_field="answer", id_field="id",
        license="unknown (problems (c) MAA; see the dataset card)", release_date="2025-02",
        revision_note=_NO_PIN, aliases=("aime_2025", "aime2025")),
    BenchmarkSpec(
        name="amc23", title="AMC 2023 (40 problems)", hub_id="math-ai/amc23", split="test",
        problem_fields=("question",), answer_field="answer", id_field="id",
        license="unknown (problems (c) MAA; see the dataset card)", release_date="2023-11",
        revision_note=_NO_PIN, aliases=("amc_2023", "amc2023")),
    BenchmarkSpec(
        name="math500", title="MATH-500 (the PRM800K test subset of MATH)",
        hub_id="HuggingFaceH4/MATH-500", split="test", problem_fields=("problem",),
        answer_field="answer", id_field="unique_id", license="mit", release_date="2023-05",
        revision="6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be", revision_note=_SEEN,
        aliases=("math_500", "math-500")),
    BenchmarkSpec(
        name="gpqa_diamond", title="GPQA Diamond", hub_id="Idavidrein/gpqa", config="gpqa_diamond",
        split="train", problem_fields=("Question",), answer_field="Correct Answer",
        id_field="Record ID", license="cc-by-4.0", release_date="2023-11",
        revision_note=_NO_PIN, aliases=("gpqa", "gpqa-diamond"),
        notes="Gated on the Hub: accept its terms and log in (`hf auth login`) before the first load."),
    BenchmarkSpec(
        name="livecodebench", title="LiveCodeBench code generation (lite)",
        hub_id="livecodebench/code_generation_lite", split="test",
        problem_fields=("question_content",), answer_field=None, id_field="question_id",
        license="cc (see the dataset card)", release_date="2024-03..",
        revision="0fe84c3912ea0c4d4a78037083943e8f0c4dd505", revision_note=_SEEN,
        aliases=("lcb", "live_code_bench"), versions=_lcb_versions(), default_version="release_v6",
        date_field="contest_date",
        notes="Select a release (`livecodebench:release_v5`) and/or a contest-date window "
              "(`livecodebench:2024-08-01..2025-02-01`)."),
    BenchmarkSpec(
        name="humaneval", title="HumanEval", hub_id="openai/openai_humaneval", split="test",
        problem_fields=("prompt",), answer_field="canonical_solution", id_field="task_id",
        license="mit", release_date="2021-07",
        revision="7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544", revision_note=_SEEN,
        aliases=("openai_humaneval", "human_eval")),
    BenchmarkSpec(
        name="mbpp", title="MBPP (full, test split)", hub_id="google-research-datasets/mbpp",
        config="full", split="test", problem_fields=("text",), answer_field="code",
        id_field="task_id", license="cc-by-4.0", release_date="2021-08",
        revision="4bb6404fdc6cacfda99d4ac4205087b89d32030c", revision_note=_SEEN),
    BenchmarkSpec(
        name="gsm8k", title="GSM8K (test split)", hub_id="openai/gsm8k", config="main", split="test",
        problem_fields=("question",), answer_field="answer", id_field=None, license="mit",
        release_date="2021-10", revision="740312add88f781978c0658806c59bc2815b9866",
        revision_note=_SEEN, aliases=("gsm8k_test",),
        notes="No id column: items are numbered by their row in the split (test-0, test-1, ...)."),
    BenchmarkSpec(
        name="olympiadbench", title="OlympiadBench (open-ended, text-only, English, math)",
        hub_id="Hothan/OlympiadBench", config="OE_TO_maths_en_COMP", split="train",
        problem_fields=("context", "question"), answer_field="final_answer", id_field="id",
        license="apache-2.0 (see the dataset card)", release_date="2024-02",
        revision_note=_NO_PIN, aliases=("olympiad_bench", "olympiad")),
]

PACK: dict[str, BenchmarkSpec] = {spec.name: spec for spec in _SPECS}
