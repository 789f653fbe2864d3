"""`plan --destroy` (saved, reviewed, applied like any saved plan) and `--replace ADDR` on plan and
apply, through the CLI against the in-process sandbox (--sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run, write_spec
from test_results_and_json import lucy

pytestmark = pytest.mark.timeout(180)

OUTPUT = "generation.places[beach-dawn-seed1]"


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    spec = lucy(tmp_path)
    done = run("--sandbox", "apply", str(spec), "--auto-approve")
    assert done.exit_code == 0, done.stderr
    return spec


def remote(spec: Path) -> dict:
    """What the remote holds now, listed through the API (show)."""
    shown = run("--sandbox", "show", str(spec), "--json")
    assert shown.exit_code == 0, shown.stderr
    return json.loads(shown.stdout)


def test_a_saved_destroy_plan_is_reviewed_then_applied_like_any_saved_plan(applied: Path, tmp_path: Path) -> None:
    saved = tmp_path / "destroy.json"
    planned = run("--sandbox", "plan", "--destroy", str(applied), "--out", str(saved))
    assert planned.exit_code == 0, planned.stderr
    assert "3 to delete" in planned.stdout and "- model.lucy-lora.version[lucy-lora-" in planned.stdout
    document = json.loads(saved.read_text())
    assert document["operation"] == "destroy"
    assert {a["address"].split(".")[0] for a in document["actions"]} == {"model", "dataset", "project"}

    # off a terminal, deleting a trained model needs --auto-approve, even from a reviewed plan
    refused = run("--sandbox", "apply", str(saved))
    assert refused.exit_code == 1 and "destroy needs --auto-approve" in refused.stderr
    assert "Destroy cancelled: nothing was deleted." in refused.stdout
    assert remote(applied)["project"] is not None

    carried = run("--sandbox", "apply", str(saved), "--auto-approve")
    assert carried.exit_code == 0, carried.stderr
    assert "Destroy complete: 3 done, 0 failed" in carried.stdout
    assert "project   lucy-example  (none)" in carried.stdout  # the results: nothing left
    assert remote(applied)["project"] is None

    again = run("--sandbox", "apply", str(saved), "--auto-approve")  # the remote changed since: stale
    assert again.exit_code == 1 and "the saved plan is stale: the remote changed" in again.stderr


def test_a_destroy_plan_is_refused_by_destroy_when_it_is_an_apply_plan(applied: Path, tmp_path: Path) -> None:
    saved = tmp_path / "apply.json"
    assert run("--sandbox", "plan", str(applied), "--out", str(saved)).exit_code == 0
    wrong = run("--sandbox", "destroy", str(saved), "--auto-approve")
    assert wrong.exit_code == 1 and "this saved plan is an apply plan, not a destroy plan" in wrong.stderr
    assert remote(applied)["project"] is not None
    mixed = run("--sandbox", "plan", "--destroy", str(applied), "--replace", "model.lucy-lora")
    assert mixed.exit_code == 1 and "--destroy plans deleting everything" in mixed.stderr


def test_replace_generates_one_output_again_shown_and_billed_as_such(applied: Path) -> None:
    billed_before = json.loads(run("output", str(applied), "billed", "--json").stdout)["requests"]
    plan = json.loads(run("--sandbox", "plan", str(applied), "--replace", OUTPUT, "--json").stdout)
    changes = [(a["address"], a["kind"]) for a in plan["actions"] if a["kind"] != "noop"]
    assert changes == [(OUTPUT, "replace")]
    assert plan["summary"]["cost"]["image_generations"] == 1 and plan["options"]["replace"] == [OUTPUT]
    assert next(a for a in plan["actions"] if a["address"] == OUTPUT)["reason"].startswith(f"--replace {OUTPUT}: generated again")

    done = run("--sandbox", "apply", str(applied), "--replace", OUTPUT, "--auto-approve")
    assert done.exit_code == 0, done.stderr
    assert "this run: 1 image generation (1 billed call)" in done.stdout
    assert json.loads(run("output", str(applied), "billed", "--json").stdout)["requests"] == billed_before + 1
    assert "No changes." in run("--sandbox", "plan", str(applied)).stdout  # nothing left to do after it


def test_replace_trains_a_model_again_as_a_new_version(applied: Path, tmp_path: Path) -> None:
    before = json.loads(run("output", str(applied), "model.lucy-lora", "--json").stdout)
    saved = tmp_path / "retrain.json"
    planned = run("--sandbox", "plan", str(applied), "--replace", "model.lucy-lora", "--out", str(saved))
    assert planned.exit_code == 0, planned.stderr
    assert f"-/+ model.lucy-lora\n" in planned.stdout
    assert f'name: "{before["name"]}" -> "{before["name"]}-r2"' in planned.stdout
    assert "1 training, 9 image generations, 1 video" in planned.stdout  # retraining remakes its outputs too

    done = run("--sandbox", "apply", str(saved), "--auto-approve")  # a saved --replace plan, as reviewed
    assert done.exit_code == 0, done.stderr
    after = json.loads(run("output", str(applied), "model.lucy-lora", "--json").stdout)
    assert after["version"] == before["version"] + "-r2" and after["revision"] == 2 and after["id"] != before["id"]
    models = {m["name"]: m for m in remote(applied)["models"]}
    assert models[after["name"]]["status"] == "Completed" and models[after["name"]]["current"]
    assert before["name"] in models  # the earlier version is kept
    assert "No changes." in run("--sandbox", "plan", str(applied)).stdout


def test_replace_of_an_address_that_does_not_exist_names_the_close_ones_and_sends_nothing(applied: Path) -> None:
    for command in ("plan", "apply"):
        wrong = run("--sandbox", command, str(applied), "--replace", "generation.places[beach-dawn-seed7]",
                    "--auto-approve" if command == "apply" else "--show-noop")
        assert wrong.exit_code == 1
        assert "--replace generation.places[beach-dawn-seed7]: no such address in this spec" in wrong.stderr
        hint = wrong.stderr.split("hint: did you mean ", 1)[1].split("?", 1)[0]
        assert "generation.places[beach-dawn-seed1]" in hint.split(" or ")
    assert "model.lucy-lora" in run("--sandbox", "plan", str(applied), "--replace", "model.lucy").stderr
    assert "No changes." in run("--sandbox", "plan", str(applied)).stdout


def test_replace_uploads_an_image_of_a_draft_dataset_again_and_refuses_a_frozen_one(applied: Path, tmp_path: Path) -> None:
    image = "dataset.lucy.image[images/pose-01.png]"
    frozen = run("--sandbox", "plan", str(applied), "--replace", image)
    assert frozen.exit_code == 1 and "is completed, and a completed dataset is frozen" in frozen.stderr

    draft = write_spec(tmp_path / "draft", project="draft-brand", images=5, complete=False)
    assert run("--sandbox", "apply", str(draft), "--auto-approve").exit_code == 0
    plan = json.loads(run("--sandbox", "plan", str(draft), "--replace", image, "--json").stdout)
    changes = [(a["address"].split("#")[0], a["kind"]) for a in plan["actions"] if a["kind"] in ("create", "replace", "delete")]
    assert changes == [("dataset.lucy.image[pose-01.fccb2323b7ad.png", "delete"), (image, "replace")]
    done = run("--sandbox", "apply", str(draft), "--replace", image, "--auto-approve")
    assert done.exit_code == 0, done.stderr
    assert f"done     {image}" in done.stderr and "done     dataset.lucy.image[pose-01.fccb2323b7ad.png#" in done.stderr
    assert json.loads(run("--sandbox", "show", str(draft), "--json").stdout)["datasets"][0]["images"] == 5
    assert "No changes." in run("--sandbox", "plan", str(draft)).stdout


def test_a_saved_destroy_plan_of_nothing_trained_still_needs_approval_off_a_terminal(tmp_path: Path) -> None:
    plain = write_spec(tmp_path / "plain", project="plain-brand", images=5)
    assert run("--sandbox", "apply", str(plain), "--auto-approve").exit_code == 0
    saved = tmp_path / "destroy.json"
    assert run("--sandbox", "plan", "--destroy", str(plain), "--out", str(saved)).exit_code == 0
    assert json.loads(saved.read_text())["summary"]["needs_approval"] == 0
    refused = run("--sandbox", "destroy", str(saved))
    assert refused.exit_code == 1 and "destroy needs --auto-approve" in refused.stderr
    assert remote(plain)["project"] is not None
    assert run("--sandbox", "destroy", str(saved), "--auto-approve").exit_code == 0
    assert remote(plain)["project"] is None
