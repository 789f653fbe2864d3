"""Every reason in a plan is true: a model's new version is compared with the version in use, a
model deleted in the Console is called gone, and a stale saved plan names only what changed."""

from __future__ import annotations

import pytest
from PIL import Image
from scenario_helpers import DATASET_NAME, MODEL_NAME, changes, without_outputs

from bria_pipeline.pipeline import load_plan_file, save_plan_file
from bria_pipeline.plan.errors import StalePlanError

pytestmark = pytest.mark.timeout(60)


def _draw(team, name: str, source: str = "pose-01.png") -> None:
    image = Image.open(team.dir / "images" / source).convert("RGB")
    for x in range(30):
        image.putpixel((x, 2 * x), (250, 10, 10))
    image.save(team.dir / "images" / name)


def _names(team) -> tuple[str, str]:
    desired = team.pipeline().desired
    return desired.datasets["lucy"].remote_name, desired.models["lucy-lora"].remote_name(desired.datasets["lucy"])


def test_after_a_rank_change_and_its_revert_a_dataset_change_is_compared_with_the_version_in_use(team):
    team.edit("rank: 32", "rank: 64")
    team.apply(auto_approve=True)
    team.edit("rank: 64", "rank: 32")
    team.apply()  # reverted: the first model is the spec's again, its outputs take their names back
    assert not team.plan().has_changes
    _draw(team, "pose-11.png")
    dataset_name, model_name = _names(team)
    plan = team.plan()
    model = plan.action("model.lucy-lora")
    assert (model.address, model.kind) == ("model.lucy-lora", "replace")
    assert model.reason == (
        f"the dataset changed ({DATASET_NAME} -> {dataset_name}) and a model trains on one dataset version: "
        f"new model version {model_name} ({MODEL_NAME} is kept)"
    )
    assert [(c.attribute, c.old, c.new) for c in model.changes] == [("name", MODEL_NAME, model_name)]


def test_a_model_deleted_in_the_console_is_gone_not_a_new_version_of_an_earlier_one(team):
    team.edit("rank: 32", "rank: 64")
    team.apply(auto_approve=True)
    _, model_name = _names(team)

    async def delete_it(client):
        [project] = await client.list_projects()
        [model] = [m for m in await client.list_project_models(project.id) if m.name == model_name]
        await client.delete_model(model.id)
        return model.id

    model_id = team.console(delete_it)
    plan = team.plan()
    assert without_outputs(changes(plan)) == [("model.lucy-lora", "create"), ("model.lucy-lora.training", "create")]
    assert plan.action("model.lucy-lora").reason == (
        f"model {model_name} (id {model_id}) is gone: deleted outside bria-pipeline (drift); "
        f"new model {model_name} on dataset {DATASET_NAME}"
    )
    assert not plan.action("model.lucy-lora").approval
    before = team.stats()
    team.apply(plan)
    sent = team.sent(before, team.stats())
    assert sent["POST /v1/tailored-gen/models"] == 1 and sent["POST /v1/tailored-gen/models/{model_id}/start_training"] == 1
    assert sorted(team.project()["models"]) == sorted([MODEL_NAME, model_name])


def test_a_saved_plan_refused_after_only_an_image_changed_names_only_that(team, tmp_path):
    _draw(team, "pose-11.png")
    saved = tmp_path / "reviewed.plan.json"
    save_plan_file(team.plan(), saved)
    _draw(team, "pose-11.png", source="pose-02.png")  # the new drawing, redrawn before the plan is applied
    before = team.stats()
    with pytest.raises(StalePlanError) as refused:
        team.pipeline().apply(load_plan_file(saved), auto_approve=True)
    assert str(refused.value) == (
        "the saved plan is stale: files the spec names changed on disk (images or schema files) since it was made"
    )
    assert team.stats()["mutating"] == before["mutating"]
    assert list(team.project()["datasets"]) == [DATASET_NAME]
