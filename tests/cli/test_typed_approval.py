"""Deleting trained models or paid outputs at a terminal takes the project's name (or `yes`) typed
out, as Terraform asks for `yes`; `y` is not enough. Work that deletes nothing paid still asks
[y/N]. The CLI runs as a child process on a pseudo-terminal, against the sandbox (--sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run, run_on_terminal, write_spec
from test_results_and_json import lucy

pytestmark = pytest.mark.timeout(180)


def answer_on_terminal(args: list[str], prompt: str, answer: str) -> tuple[int, str]:
    """The CLI on a pseudo-terminal (stdin included), `answer` typed when `prompt` shows."""
    return run_on_terminal(args, {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}, answer=(prompt, answer))


def project_of(spec: Path) -> dict | None:
    return json.loads(run("--sandbox", "show", str(spec), "--json").stdout)["project"]


TYPED = "Only 'lucy-example' or 'yes' will be accepted to approve. Enter a value"


def test_destroying_a_trained_model_needs_the_project_name_typed_not_y(tmp_path: Path) -> None:
    spec = lucy(tmp_path)
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0

    code, screen = answer_on_terminal(["--sandbox", "destroy", str(spec)], TYPED, "y")
    assert code == 1 and "Destroy cancelled: nothing was deleted." in screen
    assert "This deletes or supersedes paid work that cannot be recovered:" in screen
    assert "model.lucy-lora.version[lucy-lora-" in screen
    assert project_of(spec) is not None

    code, screen = answer_on_terminal(["--sandbox", "destroy", str(spec)], TYPED, "lucy-example")
    assert code == 0, screen
    assert "Destroy complete: 3 done, 0 failed" in screen
    assert project_of(spec) is None


def test_retraining_at_a_terminal_takes_yes_and_deleting_nothing_paid_still_asks_y_n(tmp_path: Path) -> None:
    spec = lucy(tmp_path)
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    code, screen = answer_on_terminal(["--sandbox", "apply", str(spec), "--replace", "model.lucy-lora"], TYPED, "yes")
    assert code == 0, screen
    assert "model.lucy-lora: created model lucy-lora-" in screen and "-r2" in screen

    plain = write_spec(tmp_path / "plain", project="plain-brand", images=5)  # a dataset, nothing trained
    assert run("--sandbox", "apply", str(plain), "--auto-approve").exit_code == 0
    code, screen = answer_on_terminal(["--sandbox", "destroy", str(plain)], "[y/N]", "y")
    assert code == 0, screen
    assert "Enter a value" not in screen and project_of(plain) is None
