"""The type checker proves the step wiring: each handler takes the step types it is registered for
(`@handles`), and the executor calls the client through the client's own typed methods."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKED = ["bria_pipeline/apply", "bria_pipeline/plan/steps.py", "bria_pipeline/plan/cost.py",
           "bria_pipeline/api/polling.py", "bria_pipeline/api/client.py"]

pytestmark = pytest.mark.timeout(300)


def _mypy(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
                           "--no-error-summary", "--cache-dir", "/dev/null", *paths],
                          cwd=REPO, capture_output=True, text=True, timeout=280)


def test_the_handlers_and_the_executor_type_check() -> None:
    checked = _mypy(*CHECKED)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_handler_registered_for_another_step_type_is_a_type_error(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_handler.py"
    wrong.write_text(
        "from bria_pipeline.apply.context import Run\n"
        "from bria_pipeline.apply.handlers import handles\n"
        "from bria_pipeline.plan.steps import CreateModel, WaitTraining\n"
        "\n"
        "@handles(WaitTraining)\n"
        "async def wait(run: Run, step: CreateModel) -> str:\n"
        "    return step.name\n"
    )
    checked = _mypy(str(wrong))
    assert checked.returncode == 1
    assert f"{wrong.name}:5: error" in checked.stdout and "WaitTraining" in checked.stdout, checked.stdout
