"""The CLI run in process with --sandbox waits on the test's driven clock (tests/conftest.py's
`driven_sandbox_time`): a training's minutes pass on the sandbox's ManualClock, none on the wall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run, write_spec
from sandbox_time import DrivenClock


def test_a_training_run_in_process_passes_on_the_sandbox_clock(tmp_path: Path, driven_sandbox_time) -> None:
    clocks = driven_sandbox_time
    assert isinstance(clocks.client, DrivenClock) and clocks.client.manual is clocks.sandbox
    spec = write_spec(tmp_path / "brand", project="driven-brand", images=6, model=True, complete=True)
    started = clocks.sandbox.now()
    applied = run("--sandbox", "apply", str(spec), "--auto-approve", "--json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout)["results"]["models"]["lucy-lora"]["id"]
    assert "No changes" in run("--sandbox", "plan", str(spec)).stdout  # the training finished
    # the client's waits moved the sandbox's clock on; the sandbox's training took at least its own time
    assert clocks.client.slept > 0 and clocks.sandbox.now() - started >= clocks.client.slept
    assert (spec.parent / ".bria" / "sandbox.sqlite").is_file()  # the sandbox beside the spec, as always


def test_a_second_command_goes_on_from_the_same_clock(tmp_path: Path, driven_sandbox_time) -> None:
    clocks = driven_sandbox_time
    spec = write_spec(tmp_path / "brand", project="driven-brand", images=6, model=True, complete=True)
    assert run("--sandbox", "apply", str(spec), "--auto-approve", "--no-wait").exit_code == 0
    waited = clocks.client.slept
    finished = run("--sandbox", "apply", str(spec), "--auto-approve")  # waits for the training started above
    assert finished.exit_code == 0, finished.output
    assert clocks.client.slept > waited
    assert "No changes" in run("--sandbox", "plan", str(spec)).stdout


@pytest.mark.wall_clock
def test_a_test_about_wall_time_gets_no_driven_clock(driven_sandbox_time) -> None:
    from bria_pipeline.cli.pipeline_options import SANDBOX_TIME

    assert driven_sandbox_time is None and SANDBOX_TIME.get() is None
