"""Card templates: packaged defaults, overridden by name from ./data_cards/ or by a path, and a
wheel (non-editable) install that renders a card from outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from publish_helpers import make_run, sample_recipe

from curate.cli.group import cli
from curate.publish.card import TEMPLATES

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HEADING = "## How it was made"  # a line of the packaged r1_mix.md.j2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("templates"))


def render(run_dir: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["card", str(run_dir), "--output", str(out), *args])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_the_default_template_is_packaged_and_not_copied_into_data_cards():
    assert (TEMPLATES / "r1_mix.md.j2").is_file() and TEMPLATES.is_relative_to(ROOT / "curate")
    assert not list((ROOT / "data_cards").glob("*.j2")), "data_cards/ holds user overrides, not a second copy"
    assert "curate/publish/templates" in (ROOT / "data_cards" / "README.md").read_text()


def test_a_template_in_data_cards_overrides_the_packaged_one_by_name(run_dir, tmp_path, monkeypatch):
    default = render(run_dir, tmp_path / "default.md")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data_cards").mkdir()
    (tmp_path / "data_cards" / "r1_mix.md.j2").write_text(
        'Our note on {{ recipe.name }}.\n{% include "curate/r1_mix.md.j2" %}')
    text = render(run_dir, tmp_path / "override.md")
    body = default.split("---\n", 2)[2]
    assert "Our note on publish-test." in text and text.endswith(body)
    assert DEFAULT_HEADING in text


def test_card_template_takes_a_path(run_dir, tmp_path):
    mine = tmp_path / "cards" / "short.md.j2"
    mine.parent.mkdir()
    mine.write_text("{{ facts.total_rows }} rows from {{ sources | length }} sources.\n")
    text = render(run_dir, tmp_path / "out.md", "--template", str(mine))
    assert text.split("---\n", 2)[2].strip() == "140 rows from 3 sources."


def test_a_missing_template_names_where_it_looked_and_the_packaged_ones(run_dir, tmp_path):
    result = CliRunner().invoke(cli, ["card", str(run_dir), "--output", str(tmp_path / "x.md"),
                                      "--template", "nope.md.j2"])
    assert result.exit_code != 0
    assert "'nope.md.j2' not found" in result.output and "r1_mix.md.j2" in result.output


@pytest.mark.slow
def test_a_wheel_install_renders_a_card_outside_the_repository(tmp_path):
    """Build the wheel from a clean copy of the sources (no built extension), install it (no deps,
    no editable link) in a venv that borrows this interpreter's packages, check the wheel built
    dedup's and decontam's C kernels, and run a small recipe from elsewhere."""
    source = tmp_path / "src"
    for name in ("curate", "pyproject.toml", "README.md"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.so")}
                                            if (ROOT / name).is_dir() else {}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    wheel = next((tmp_path / "dist").glob("curate-*.whl"))
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(tmp_path / "venv")
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([*pip, "--python", python, "install", "--no-deps", str(wheel)], check=True, env=env,
                   cwd=tmp_path, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "recipe.yaml").write_text(yaml.safe_dump(sample_recipe(), sort_keys=False))
    where = subprocess.run([python, "-c", "import curate.publish.card as c; print(c.__file__)"], env=env,
                           cwd=work, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), f"the venv imported curate from {where}"
    probe = ("from curate.dedup import native as a; from curate.decontam import native as b; "
             "print(a.available(), b.available())")
    native = subprocess.run([python, "-c", probe], env=env, cwd=work, capture_output=True, text=True, check=True)
    assert native.stdout.split() == ["True", "True"], "the wheel carries no C build of dedup's or decontam's kernels"
    result = subprocess.run([python, "-m", "curate", "run", "recipe.yaml", "--run-dir", "run", "--quiet"],
                            env=env, cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    card = (work / "run" / "dataset" / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and DEFAULT_HEADING in card and "# publish test" in card
    assert (work / "run" / "reports" / "report.html").is_file()
