"""The run commands as a user types them, against the built-in sandbox (`--sandbox`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from bria_pipeline.cli import main
from bria_pipeline.cli.run_cmds import parse_duration, parse_rate

pytestmark = pytest.mark.timeout(120)
PLAN_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_plan_exit_codes_and_every_format(spec_dir):
    spec = str(spec_dir.write(models=False))
    text = run("plan", spec, "--sandbox", "--detailed-exitcode")
    assert text.exit_code == 2, text.output
    assert "+ dataset.lucy" in text.output and "Plan: " in text.output
    as_json = run("--sandbox", "plan", spec, "--json")
    assert as_json.exit_code == 0
    document = json.loads(as_json.stdout)
    jsonschema.validate(document, json.loads(PLAN_SCHEMA.read_text()), cls=jsonschema.Draft202012Validator)
    markdown = run("--sandbox", "plan", spec, "--format", "markdown")
    assert "#### bria-pipeline plan" in markdown.output and "| `+` | `project` | create |" in markdown.output
    assert run("--sandbox", "plan", spec, "--target", "model.none").exit_code == 1


def test_apply_no_wait_reports_training_in_progress_and_the_next_apply_picks_it_up(spec_dir):
    spec = str(spec_dir.write(steps=100, generate=True))
    first = run("--sandbox", "-v", "apply", spec, "--auto-approve", "--no-wait")
    assert first.exit_code == 0, first.output
    assert "running model.lucy-lora.training: training in progress" in first.stdout
    assert "deferred 2 step(s) that wait for it (generation.places[beach-seed1]" in first.stdout
    assert "Training in progress: the next apply picks it up." in first.stdout
    assert "requests (" in first.stderr  # -v: request counts
    waiting = run("--sandbox", "plan", spec, "--detailed-exitcode")
    assert waiting.exit_code in (0, 2)  # 2 while training runs, 0 once it finished
    second = run("--sandbox", "apply", spec, "--auto-approve")
    assert second.exit_code == 0, second.output
    assert run("--sandbox", "plan", spec, "--detailed-exitcode").exit_code == 0
    assert len(list((spec_dir.root / "outputs" / "places").glob("*.png"))) == 2


def test_saved_plan_is_applied_once_and_then_refused_as_stale(spec_dir, tmp_path):
    spec = str(spec_dir.write(models=False, complete=False))
    plan_file = str(tmp_path / "plan.json")
    made = run("--sandbox", "plan", spec, "--out", plan_file)
    assert made.exit_code == 0 and "Saved the plan" in made.stderr
    applied = run("--sandbox", "apply", plan_file)
    assert applied.exit_code == 0, applied.output
    again = run("--sandbox", "apply", plan_file)
    assert again.exit_code == 1
    assert "the saved plan is stale" in again.stderr and "the remote changed" in again.stderr


def test_show_refresh_and_import_speak_plainly(spec_dir):
    spec = str(spec_dir.write(models=False, complete=False))
    assert run("--sandbox", "apply", spec, "--auto-approve").exit_code == 0
    shown = run("--sandbox", "show", spec, "--json")
    state = json.loads(shown.stdout)
    assert state["project"]["name"] == "lucy-test" and state["datasets"][0]["status"] == "draft"
    table = run("--sandbox", "show", spec)
    assert "dataset  *  lucy" in table.stdout
    refreshed = run("--sandbox", "refresh", spec)
    assert refreshed.exit_code == 0 and "Refreshed" in refreshed.stdout
    wrong = run("--sandbox", "import", spec, "model.nope", "1")
    assert wrong.exit_code == 1 and "cannot import 'model.nope'" in wrong.stderr


def test_destroy_off_a_terminal_needs_auto_approve(spec_dir):
    spec = str(spec_dir.write(models=False, complete=False))
    assert run("--sandbox", "apply", spec, "--auto-approve").exit_code == 0
    refused = run("--sandbox", "destroy", spec)
    assert refused.exit_code == 1 and "destroy needs --auto-approve" in refused.stderr
    done = run("--sandbox", "destroy", spec, "--auto-approve")
    assert done.exit_code == 0 and "Destroy complete" in done.stdout
    assert "No changes" in run("--sandbox", "destroy", spec, "--auto-approve").stdout


def test_durations_and_rates_parse_like_people_write_them():
    assert parse_duration("90") == 90 and parse_duration("90s") == 90
    assert parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    assert parse_rate("60/min") == 60 and parse_rate("2/s") == 120 and parse_rate("600/h") == 10
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate("fast")


def test_bad_duration_option_names_the_option(spec_dir):
    result = run("--sandbox", "apply", str(spec_dir.write(models=False)), "--timeout", "soon")
    assert result.exit_code == 1 and "--timeout" in result.output


def test_interrupted_apply_keeps_state_and_the_next_one_finishes(spec_dir, monkeypatch):
    spec = str(spec_dir.write(models=False, complete=False))
    from bria_pipeline.apply import dataset_steps

    real = dataset_steps.upload_image
    calls = {"n": 0}

    async def interrupted(run_, step):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does
            await asyncio.sleep(5)
        return await real(run_, step)

    from bria_pipeline.apply.handlers import HANDLERS
    from bria_pipeline.plan.steps import UploadImage

    monkeypatch.setitem(HANDLERS, UploadImage, interrupted)
    stopped = run("--sandbox", "apply", spec, "--auto-approve")
    assert stopped.exit_code == 130, stopped.output
    assert "run the same apply again" in stopped.stderr
    monkeypatch.undo()
    time.sleep(0.05)
    finished = run("--sandbox", "apply", spec, "--auto-approve")
    assert finished.exit_code == 0, finished.output
    assert run("--sandbox", "plan", spec, "--detailed-exitcode").exit_code == 0


def test_a_directory_of_specs_is_planned_and_applied_in_one_run(tmp_path):
    from apply_helpers import SpecDir

    one, two = SpecDir(tmp_path / "specs" / "one"), SpecDir(tmp_path / "specs" / "two")
    one.write(models=False, complete=False, project="brand-one")
    two.write(models=False, complete=False, project="brand-two")
    (tmp_path / "specs" / "notes.yaml").write_text("just: notes\n")  # not a spec: skipped
    folder = str(tmp_path / "specs")
    planned = run("--sandbox", "plan", folder, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert planned.output.count("changes     Plan: ") == 2
    applied = run("--sandbox", "apply", folder, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert applied.output.count("ok          Apply complete") == 2
    assert run("--sandbox", "plan", folder, "--detailed-exitcode").exit_code == 0


def test_progress_bars_draw_every_kind_of_event():
    import io

    from rich.console import Console

    from bria_pipeline.apply.progress import ProgressEvent
    from bria_pipeline.cli.run_progress import BarProgress

    view = BarProgress(Console(file=io.StringIO(), force_terminal=True, width=120))
    with view:
        view(ProgressEvent("plan", message="Plan: 3 to create", total=3))
        view(ProgressEvent("advance", "model.lucy-lora.training", "training InProgress", 100, 200))
        view(ProgressEvent("end", "model.lucy-lora.training", "trained [2 checkpoints]"))
        view(ProgressEvent("fail", "dataset.lucy.image[images/a.png]", "HTTP 409 [conflict]"))
        view(ProgressEvent("running", "model.other.training", "training in progress"))
    out = view.console.file.getvalue()
    assert "FAILED" in out and "dataset.lucy.image[images/a.png]" in out and "[conflict]" in out
