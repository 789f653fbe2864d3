"""The layering is a contract: `lint-imports` with the project's .importlinter passes, and fails
on an import that runs back up a layer or brings the sandbox into the core."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter's command on the package in `tree` with the project's contracts."""
    command = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(command), str(CONFIG), "--no-cache", "--no-logo"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def copy_of_the_package(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "bria_pipeline", tree / "bria_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_the_package_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "Layers: cli > pipeline > commands > apply > reports > plan" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("state/_probe.py", "from ..plan.planner import plan\n", "Layers:"),  # state reaching up to plan
        ("api/_probe.py", "from ..state.store import StateStore\n", "Layers:"),  # the lowest layer reaching up
        ("plan/_probe.py", "def late():\n    from ..apply import executor\n", "Layers:"),  # inline imports count
        ("commands/_probe.py", "from ..sandbox import create_app\n", "The core never imports the sandbox"),
    ],
)
def test_a_back_up_import_breaks_the_contract(copy_of_the_package, module, source, contract):
    probe = copy_of_the_package / "bria_pipeline" / module
    probe.write_text(source, encoding="utf-8")
    try:
        result = lint_imports(copy_of_the_package)
    finally:
        probe.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken
    assert "bria_pipeline." + module.removesuffix(".py").replace("/", ".") in broken
