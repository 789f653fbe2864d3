"""Training parameters are fixed once training starts: a change is a new model version. A training
left running (--no-wait) is picked up by the next apply; a failed one becomes a new revision."""

from __future__ import annotations

import pytest
from scenario_helpers import MODEL_NAME, OUTPUTS, TRAINING_SECONDS, changes, outputs_of, without_outputs

pytestmark = pytest.mark.timeout(60)

START_TRAINING = "POST /v1/tailored-gen/models/{model_id}/start_training"


def _model_name(team) -> str:
    desired = team.pipeline().desired
    return desired.models["lucy-lora"].remote_name(desired.datasets["lucy"])


def test_changed_rank_is_a_new_model_version_with_the_reason_and_the_old_one_kept(team):
    team.edit("rank: 32", "rank: 64")
    new_name = _model_name(team)
    plan = team.plan()
    assert without_outputs(changes(plan)) == [("model.lucy-lora", "replace"), ("model.lucy-lora.training", "create")]
    assert outputs_of(changes(plan)) == [(address, "replace") for address in OUTPUTS]
    model = plan.action("model.lucy-lora")
    assert model.reason == (
        f"training parameter rank 32 -> 64 cannot change after training: new model version {new_name} ({MODEL_NAME} is kept)"
    )
    assert [(c.attribute, c.old, c.new) for c in model.changes] == [("name", MODEL_NAME, new_name), ("rank", 32, 64)]
    assert model.approval and plan.action("model.lucy-lora.training").billed

    team.apply(plan, auto_approve=True)
    models = team.project()["models"]
    assert {name: (m["status"], m["rank"]) for name, m in models.items()} == {
        MODEL_NAME: ("Completed", 32),
        new_name: ("Completed", 64),
    }
    assert models[MODEL_NAME]["dataset_id"] == models[new_name]["dataset_id"]
    assert len(team.project()["datasets"]) == 1
    assert not team.plan().has_changes


def test_no_wait_leaves_the_training_running_and_the_next_apply_picks_it_up(team):
    team.restart_service(training_seconds=1.0)
    team.edit("rank: 32", "rank: 16")
    new_name = _model_name(team)
    result = team.apply(auto_approve=True, wait=False)
    by_status = {s.address: s.status for s in result.steps}
    assert by_status["model.lucy-lora.training"] == "running"
    assert [a for a, status in by_status.items() if status == "deferred"] == OUTPUTS
    assert "Training in progress: the next apply picks it up." in result.summary()
    assert team.project()["models"][new_name]["status"] == "InProgress"

    plan = team.plan()
    assert without_outputs(changes(plan)) == [("model.lucy-lora.training", "wait")]
    assert plan.action("model.lucy-lora.training").reason.startswith(f"training of {new_name} in progress (")
    assert plan.action("model.lucy-lora.training").reason.endswith("checkpoints so far): wait for Completed")

    before = team.stats()
    result = team.apply(plan)
    assert {s.address: s.status for s in result.steps} == {"model.lucy-lora.training": "done", **{a: "done" for a in OUTPUTS}}
    assert START_TRAINING not in team.sent(before, team.stats())  # the same training, not a second one
    assert team.project()["models"][new_name]["status"] == "Completed"
    assert not team.plan().has_changes


def test_failed_training_becomes_a_new_revision_with_the_reason(team):
    team.restart_service(training_seconds=30)
    team.edit("rank: 32", "rank: 16")
    new_name = _model_name(team)
    team.apply(auto_approve=True, wait=False)
    [running] = [m for m in team.console(lambda c: c.list_models()) if m.name == new_name]
    assert team.admin("POST", f"/_sandbox/models/{running.id}/fail") == {"id": running.id, "status": "Failed"}

    plan = team.plan()
    assert without_outputs(changes(plan)) == [("model.lucy-lora", "replace"), ("model.lucy-lora.training", "create")]
    replaced = plan.action("model.lucy-lora")
    assert replaced.reason == (
        f"training of {new_name} failed (status Failed); a training cannot be resumed: new model version {new_name}-r2"
    )
    assert not replaced.approval  # nothing trained is superseded
    assert plan.notes == (f"earlier versions kept: model {MODEL_NAME}, model {new_name} (apply --prune deletes them)",)

    team.restart_service(training_seconds=TRAINING_SECONDS)
    team.apply(plan)
    models = team.project()["models"]
    assert {name: m["status"] for name, m in models.items()} == {
        MODEL_NAME: "Completed",
        new_name: "Failed",
        f"{new_name}-r2": "Completed",
    }
    assert not team.plan().has_changes


def test_a_reverted_rank_goes_back_to_the_trained_model_and_its_images_without_a_request(team):
    places = team.dir / "outputs" / "places"
    first = {p.name: p.read_bytes() for p in places.glob("*.png")}
    team.edit("rank: 32", "rank: 64")
    team.apply(auto_approve=True)
    team.edit("rank: 64", "rank: 32")  # the new version did not look better

    plan = team.plan()
    assert changes(plan) == [(address, "update") for address in OUTPUTS]
    assert not plan.billed
    assert plan.action("generation.places[beach-dawn-seed1]").reason.startswith(
        "back in the spec: its file places/beach-dawn-seed1."
    )
    before = team.stats()
    result = team.apply(plan)
    assert team.sent(before, team.stats()) == {
        "GET /v1/tailored-gen/projects": 1,
        "GET /v1/tailored-gen/projects/{project_id}/datasets": 1,
        "GET /v1/tailored-gen/projects/{project_id}/models": 1,
    }
    assert {s.status for s in result.steps} == {"done"}
    assert {name: (places / name).read_bytes() for name in first} == first  # the rank-32 images are back
    assert len(list(places.glob("*.*.png"))) == 8  # the rank-64 ones, kept aside
    assert not team.plan().has_changes
