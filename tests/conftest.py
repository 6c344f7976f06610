"""Shared fixtures: paths to the sample corpus and a helper to run recipes in tmp folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
SAMPLE = RECIPES / "data"


@pytest.fixture
def write_jsonl(tmp_path):
    """Write rows (dicts) to a JSONL file under tmp_path; returns its path."""

    def write(name: str, rows: list[dict]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    return write


@pytest.fixture
def write_recipe(tmp_path):
    """Write a recipe dict as YAML next to the data; returns its path."""
    import yaml

    def write(recipe: dict, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        return path

    return write


@pytest.fixture(autouse=True)
def _restore_stage_registry():
    """Test-only stages (slow, boom) registered by one test must not leak into the CLI that later
    tests (the README reference, help texts) generate."""
    from curate import registry

    saved = dict(registry.STAGES)
    yield
    registry.STAGES.clear()
    registry.STAGES.update(saved)
