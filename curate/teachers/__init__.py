"""Teachers write the traces: `vllm` (in-process engine) and `openai` (any compatible server).

`make_teacher(config)` picks one; `teacher_name(config)` is what the `teacher` column records
(model@revision). Heavy imports (vllm, torch, httpx) happen inside the teacher modules' functions.
"""

from __future__ import annotations

from pathlib import Path

from curate.fingerprint import digest
from curate.teachers.base import Request, Response, Sample, Teacher
from curate.teachers.config import GenerateConfig

__all__ = [
    "GenerateConfig",
    "Request",
    "Response",
    "Sample",
    "Teacher",
    "make_teacher",
    "model_path",
    "require_backend",
    "teacher_name",
]

#: teacher backend -> (module it needs, the curate extra that installs it)
BACKEND_EXTRAS = {"vllm": ("vllm", "vllm"), "openai": ("httpx", "openai")}


def require_backend(teacher: str, purpose: str) -> None:
    """Raise MissingExtra, naming `purpose`, when the backend's package is not installed."""
    import importlib.util

    from curate.errors import MissingExtra

    module, extra = BACKEND_EXTRAS[teacher]
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(module, extra, purpose)


def model_path(config: GenerateConfig) -> str:
    """The model as the engine should see it (`~` expanded; a local folder made absolute)."""
    path = Path(config.model).expanduser()
    return str(path.resolve()) if path.exists() or config.build_tiny_model else config.model


def make_teacher(config: GenerateConfig, *, lock_dir: Path | None = None) -> Teacher:
    """The teacher the config names (builds the tiny model first when asked and absent)."""
    if config.build_tiny_model and config.teacher == "vllm":
        from curate.teachers.tiny_model import ensure_tiny_model

        ensure_tiny_model(model_path(config), seed=config.tiny_model_seed)
    config = config.model_copy(update={"model": model_path(config)})
    if config.teacher == "vllm":
        from curate.teachers.vllm import VllmTeacher

        return VllmTeacher(config, name=teacher_name(config), lock_dir=lock_dir)
    from curate.teachers.openai import OpenAITeacher

    return OpenAITeacher(config, name=teacher_name(config))


def teacher_name(config: GenerateConfig) -> str:
    """`model@revision`: for a local folder its name and a hash of its config.json; for a Hub
    id the pinned revision, else the commit in the local Hub cache, else `main`."""
    if config.teacher_name:
        return config.teacher_name
    path = Path(config.model).expanduser()
    if config.teacher == "vllm" and (path / "config.json").exists():
        return f"{path.name}@{config.revision or 'local-' + digest((path / 'config.json').read_text(), length=8)}"
    if config.teacher == "openai":
        return f"{config.model}@{config.revision}" if config.revision else config.model
    return f"{config.model}@{config.revision or _cached_commit(config.model) or 'main'}"


def _cached_commit(model: str) -> str | None:
    """The commit `main` points to in the local Hugging Face cache, if the model is there."""
    import os

    home = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface"))
                / "hub").expanduser()
    ref = home / f"models--{model.replace('/', '--')}" / "refs" / "main"
    return ref.read_text().strip() if ref.is_file() else None
