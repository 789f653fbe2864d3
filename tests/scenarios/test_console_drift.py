"""Someone changes managed resources in the Console: plan shows each change with its reason and
apply repairs it. What the spec does not own is never touched, by apply, --prune or destroy."""

from __future__ import annotations

import pytest
from scenario_helpers import DATASET_NAME, MODEL_NAME, OUTPUTS, TRAINING_SECONDS, changes, outputs_of, without_outputs

from bria_pipeline.state.store import StateStore

pytestmark = pytest.mark.timeout(60)

SKETCHES = """
  # next season's drawings: uploaded, not ready to train on
  sketches:
    images:
      - path: images/pose-0[1-6].png
    complete: false

models:
"""


def _with_sketches(team) -> str:
    team.edit("\nmodels:\n", SKETCHES)
    team.apply()
    return team.pipeline().desired.datasets["sketches"].remote_name


def test_console_edits_are_each_shown_with_a_reason_and_repaired(team):
    sketches = _with_sketches(team)
    assert team.project()["datasets"][sketches] == {
        "status": "draft",
        "images": sorted(i.remote_name for i in team.pipeline().desired.datasets["sketches"].images),
    }

    async def edit_in_the_console(client):
        [project] = await client.list_projects()
        await client.update_project(project.id, project_name="Lucy (old)", project_description="edited in the Console")
        [draft] = [d for d in await client.list_project_datasets(project.id) if d.name == sketches]
        [pose_03] = [i for i in await client.list_images(draft.id) if i.image_name.startswith("pose-03.")]
        await client.delete_image(draft.id, pose_03.id)
        [model] = await client.list_project_models(project.id)
        await client.delete_model(model.id)
        return model.id

    model_id = team.console(edit_in_the_console)
    plan = team.plan()
    assert without_outputs(changes(plan)) == [
        ("project", "update"),
        ("dataset.sketches.image[images/pose-03.png]", "create"),
        ("model.lucy-lora", "create"),
        ("model.lucy-lora.training", "create"),
    ]
    # the outputs were made by the deleted model: the new training makes them again
    assert outputs_of(changes(plan)) == [(address, "replace") for address in OUTPUTS]
    assert plan.action(OUTPUTS[0]).reason.startswith(
        f"made by model id {model_id}, and {MODEL_NAME} is trained again by this plan: generated again "
        "(the old file is kept as places/beach-dawn-seed1.replaced-"
    )
    project = plan.action("project")
    assert project.reason == (
        "renamed outside bria-pipeline (drift): its name is restored; project_description differs from the spec: updated in place"
    )
    assert [(c.attribute, c.old, c.new) for c in project.changes] == [
        ("project_name", "Lucy (old)", "lucy-example"),
        ("project_description", "edited in the Console", "A girl with purple hair, drawn in flat colours"),
    ]
    assert plan.action("dataset.sketches.image[images/pose-03.png]").reason == (
        f"missing from {sketches}: deleted outside bria-pipeline (drift), or never uploaded by an interrupted apply"
    )
    assert plan.action("model.lucy-lora").reason == (
        f"model {MODEL_NAME} (id {model_id}) is gone: deleted outside bria-pipeline (drift); "
        f"new model {MODEL_NAME} on dataset {DATASET_NAME}"
    )

    team.apply(plan)
    remote = team.remote()
    assert list(remote) == ["lucy-example"]
    project = remote["lucy-example"]
    assert project["description"] == "A girl with purple hair, drawn in flat colours"
    assert len(project["datasets"][sketches]["images"]) == 6
    assert project["models"][MODEL_NAME]["status"] == "Completed"
    assert not team.plan().has_changes
    # the state remembers what exists, not the model deleted in the Console
    records = StateStore.for_spec(team.spec).records
    assert {r.id for r in records if r.kind == "model"} == {team.console(lambda c: c.list_models())[0].id}


def test_training_stopped_in_the_console_becomes_a_new_revision(team):
    team.restart_service(training_seconds=5)
    team.edit("rank: 32", "rank: 16")
    desired = team.pipeline().desired
    name = desired.models["lucy-lora"].remote_name(desired.datasets["lucy"])
    team.apply(auto_approve=True, wait=False)

    async def stop(client):
        [model] = [m for m in await client.list_models() if m.name == name]
        await client.stop_training(model.id)

    team.console(stop)
    plan = team.plan()
    assert [pair for pair in changes(plan) if pair[0].startswith("model.")] == [
        ("model.lucy-lora", "replace"),
        ("model.lucy-lora.training", "create"),
    ]
    status = team.project()["models"][name]["status"]
    word = {"Stopping": "is stopping", "Stopped": "was stopped"}[status]
    assert plan.action("model.lucy-lora").reason == (
        f"training of {name} {word} (status {status}); a training cannot be resumed: new model version {name}-r2"
    )
    team.restart_service(training_seconds=TRAINING_SECONDS)
    team.apply(plan)
    models = team.project()["models"]
    assert models[f"{name}-r2"]["status"] == "Completed" and models[name]["status"] == "Stopped"
    assert not team.plan().has_changes


def test_resources_the_spec_does_not_own_survive_apply_prune_and_destroy(team):
    async def make_foreign(client):
        [ours] = await client.list_projects()
        other = await client.create_project(
            project_name="bob-brand", ip_type="defined_character", ip_medium="illustration", ip_name="Bob", ip_description="a boy"
        )
        await client.create_dataset(other.id, DATASET_NAME)  # our dataset's name, in another project
        await client.create_dataset(ours.id, "lucy-handmade")
        [dataset] = [d for d in await client.list_project_datasets(ours.id) if d.name == DATASET_NAME]
        await client.create_model("lucy-by-hand", dataset.id, training_mode="fully_automated")

    team.console(make_foreign)
    foreign = team.remote()
    assert sorted(foreign) == ["bob-brand", "lucy-example"]
    for prune in (False, True):
        plan = team.plan(prune=prune)
        assert changes(plan) == []
    team.edit("rank: 32", "rank: 16")  # a new model version, then prune the old one
    team.apply(auto_approve=True, prune=True)
    after = team.remote()
    assert after["bob-brand"] == foreign["bob-brand"]
    assert "lucy-handmade" in after["lucy-example"]["datasets"] and "lucy-by-hand" in after["lucy-example"]["models"]
    assert MODEL_NAME not in after["lucy-example"]["models"]
    # the dataset the spec made stays while a model it does not own uses it
    assert DATASET_NAME in after["lucy-example"]["datasets"]

    destroy = team.pipeline().plan_destroy()
    assert [a for a, _ in changes(destroy)] == [f"model.lucy-lora.version[{n}]" for n in after["lucy-example"]["models"] if n.startswith("lucy-lora-")]
    assert destroy.notes[:2] == (
        f"dataset {DATASET_NAME} is kept: model lucy-by-hand, which this spec does not own, uses it",
        "project lucy-example is kept: it holds 2 resource(s) this spec does not own (lucy-handmade, lucy-by-hand)",
    )
    result = team.pipeline().destroy(auto_approve=True)
    assert result.ok
    left = team.remote()
    assert left["bob-brand"] == foreign["bob-brand"]
    assert sorted(left["lucy-example"]["datasets"]) == sorted([DATASET_NAME, "lucy-handmade"])
    assert list(left["lucy-example"]["models"]) == ["lucy-by-hand"]
