"""Alive in CI logs, honest on a terminal: heartbeats during long waits in plain output, and
bars that follow a training's own progress without cutting the elapsed time."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from bria_pipeline.apply.progress import ProgressEvent
from bria_pipeline.cli.run_progress import BarProgress, PlainProgress
from bria_pipeline.cli.terminal import Diagnostics
from cli_helpers import run_child, run_on_terminal, write_spec

pytestmark = pytest.mark.timeout(120)
TRAINING = "model.lucy-lora.training"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain(clock: Clock, capsys: pytest.CaptureFixture[str], log_format: str = "text") -> PlainProgress:
    capsys.readouterr()
    return PlainProgress(diagnostics=Diagnostics(log_format=log_format), clock=clock, ticker=False,
                         checkpoint_intervals={TRAINING: 100})


def at(view: PlainProgress, clock: Clock, seconds: float) -> None:
    """Let the clock reach `seconds` after the start, ticking once a second as the view's thread does."""
    while clock.now < 1000.0 + seconds:
        clock.now = min(clock.now + 1.0, 1000.0 + seconds)
        view.tick()


def test_a_long_training_prints_a_heartbeat_every_minute_with_checkpoints_and_an_estimate(capsys) -> None:
    clock = Clock()
    view = plain(clock, capsys)
    view(ProgressEvent("plan", message="Plan: 2 to create", total=2))
    view(ProgressEvent("begin", TRAINING, "start training"))
    view(ProgressEvent("advance", TRAINING, "training started", 0, None))
    view(ProgressEvent("advance", TRAINING, "training InProgress", 0, 200))
    at(view, clock, 59)
    assert capsys.readouterr().err == ""
    at(view, clock, 60)
    assert capsys.readouterr().err == "Still training model.lucy-lora [1m elapsed, InProgress, checkpoint 0/2]\n"
    at(view, clock, 600)  # the first checkpoint, 10 minutes in: half the steps
    view(ProgressEvent("advance", TRAINING, "training InProgress", 100, 200))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 9 and lines[-1].startswith("Still training model.lucy-lora [10m elapsed, InProgress, checkpoint 0/2")
    at(view, clock, 720)
    assert capsys.readouterr().err.splitlines() == [
        "Still training model.lucy-lora [11m elapsed, InProgress, checkpoint 1/2, about 9m left]",
        "Still training model.lucy-lora [12m elapsed, InProgress, checkpoint 1/2, about 8m left]",
    ]
    view(ProgressEvent("end", TRAINING, "trained (2 checkpoints)"))
    at(view, clock, 840)  # the job is done: no more training heartbeats, a quiet run still says it is alive
    assert capsys.readouterr().err.splitlines() == [
        "  done     model.lucy-lora.training: trained (2 checkpoints)",
        "Still applying [13m elapsed, 1/2 steps done]",
        "Still applying [14m elapsed, 1/2 steps done]",
    ]


def test_captions_bulk_uploads_and_generations_have_heartbeats_too_and_json_logs_carry_the_figures(capsys) -> None:
    clock = Clock()
    view = plain(clock, capsys, log_format="json")
    view(ProgressEvent("plan", message="Plan: 3 to create", total=3))
    view(ProgressEvent("begin", "dataset.lucy.captions", "wait for captions"))
    view(ProgressEvent("advance", "dataset.lucy.captions", "captions in_progress", 0, 10))
    view(ProgressEvent("begin", "dataset.big.images", "bulk upload"))
    view(ProgressEvent("advance", "dataset.big.images", "processing", 0, 100))
    view(ProgressEvent("advance", "generation", "outputs", 0, 8))
    at(view, clock, 30)
    view(ProgressEvent("advance", "dataset.lucy.captions", "captions in_progress", 5, 10))
    view(ProgressEvent("advance", "dataset.big.images", "processing", 25, 100))
    view(ProgressEvent("advance", "generation", "outputs", 2, 8))
    at(view, clock, 60)
    beats = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    messages = {b["message"] for b in beats if b.get("event") == "heartbeat"}
    assert messages == {
        "Still captioning dataset.lucy [1m elapsed, in_progress, 5/10 done, less than a minute left]",
        "Still uploading dataset.big (bulk upload) [1m elapsed, processing, 25/100 images, about 1m left]",
        "Still generating outputs [1m elapsed, 2/8 done, about 1m left]",
    }
    captions = next(b for b in beats if b.get("address") == "dataset.lucy.captions")
    assert captions["done"] == 5 and captions["total"] == 10 and captions["elapsed"] == 60.0 and captions["remaining"] == 0.0


def test_heartbeat_zero_turns_them_off(capsys) -> None:
    clock = Clock()
    capsys.readouterr()
    view = PlainProgress(diagnostics=Diagnostics(), clock=clock, ticker=False, heartbeat=0)
    view(ProgressEvent("plan", message="Plan", total=1))
    view(ProgressEvent("advance", TRAINING, "training InProgress", 0, 200))
    clock.now += 3600
    view.tick()
    assert capsys.readouterr().err == ""


def test_the_training_bar_moves_between_checkpoints_and_the_overall_bar_claims_no_eta() -> None:
    clock = Clock()
    from rich.console import Console

    view = BarProgress(Console(file=io.StringIO(), force_terminal=True, width=130), clock=clock, ticker=False,
                       checkpoint_intervals={TRAINING: 100})
    with view:
        view(ProgressEvent("plan", message="Plan: 26 to create, 3 to update, 0 to replace, 0 to delete.", total=30))
        view(ProgressEvent("begin", TRAINING, "start training"))
        view(ProgressEvent("advance", TRAINING, "training InProgress", 0, 300))
        clock.now += 60
        view(ProgressEvent("advance", TRAINING, "training InProgress", 100, 300))
        task = view.jobs[TRAINING]
        steps = [view.progress.tasks[task].completed]
        for _ in range(3):
            clock.now += 15
            view.tick()
            steps.append(view.progress.tasks[task].completed)
        assert steps == [100.0, 125.0, 150.0, 175.0]  # 100 steps a minute, as the first checkpoint showed
        clock.now += 60
        view.tick()
        assert view.progress.tasks[task].completed == 199.5  # never past a checkpoint not reported yet
        assert view.progress.tasks[task].fields["status"] == "checkpoint 1/3, <1m left, InProgress"
        overall = view.progress.tasks[view.overall]
        assert overall.description == "all steps" and "left" not in overall.fields["status"]


def _frames(text: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]+", ANSI.sub("", text)) if line.strip()]


def test_on_a_130_column_terminal_the_training_bar_shows_checkpoints_and_estimate_and_no_column_is_cut(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="bars-brand", model=True, complete=True)
    code, text = run_on_terminal(["--sandbox", "apply", str(spec), "--auto-approve"], {"COLUMNS": "130"})
    assert code == 0, text
    frames = _frames(text)
    training = [f for f in frames if f.startswith("model.lucy-lora.training") and "━" in f]
    assert any(re.search(r" \d:\d\d:\d\d checkpoint 1/4, (<1m|~\d+\w*) left, InProgress", f) for f in training), \
        training[-5:]
    overall = [f for f in frames if f.startswith("all steps")]
    assert overall and all(re.search(r" \d+/\d+ +\d:\d\d:\d\d( |$)", f) for f in overall), overall[-3:]  # elapsed whole
    assert not any("left" in f or "Plan:" in f for f in overall)  # no estimate, no plan summary as its label
    assert "0:00:…" not in text


def test_a_piped_apply_prints_heartbeats_set_by_the_environment(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="heartbeat-brand", model=True, complete=True)
    done = run_child("--sandbox", "apply", str(spec), "--auto-approve", env={"BRIA_PIPELINE_HEARTBEAT": "0.5s"})
    assert done.returncode == 0, done.stderr
    beats = [line for line in done.stderr.splitlines() if line.startswith("Still training model.lucy-lora [")]
    assert beats and all("elapsed, InProgress, checkpoint " in line for line in beats), done.stderr
    assert "\x1b[" not in done.stderr and "\r" not in done.stderr
    quiet = run_child("--sandbox", "apply", str(spec), "--auto-approve", "--heartbeat", "0")
    assert quiet.returncode == 0 and "Still " not in quiet.stderr
