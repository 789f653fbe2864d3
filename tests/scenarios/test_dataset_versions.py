"""A completed dataset is frozen: every change to its content is a new version, cloned from the
last one, and the model trained on it becomes a new version too. Old versions stay until --prune."""

from __future__ import annotations

import pytest
from PIL import Image
from scenario_helpers import DATASET_NAME, MODEL_NAME, OUTPUTS, UPLOADS, changes, outputs_of, without_outputs

from bria_pipeline.apply.errors import ApprovalRequired
from bria_pipeline.lockfile import load_lock
from bria_pipeline.plan.render_text import render_text

pytestmark = pytest.mark.timeout(60)


def _add_image(team, name: str = "pose-11.png") -> None:
    """A new drawing: pose-01 with a few pixels changed."""
    image = Image.open(team.dir / "images" / "pose-01.png").convert("RGB")
    for x in range(40):
        image.putpixel((x, x), (250, 10, 10))
    image.save(team.dir / "images" / name)


def _names(team) -> tuple[str, str]:
    desired = team.pipeline().desired
    dataset = desired.datasets["lucy"]
    return dataset.remote_name, desired.models["lucy-lora"].remote_name(dataset)


def test_added_image_clones_a_new_version_uploads_only_it_and_trains_a_new_model(team):
    _add_image(team)
    dataset_name, model_name = _names(team)
    plan = team.plan()
    assert without_outputs(changes(plan)) == [
        ("dataset.lucy", "replace"),
        ("dataset.lucy.image[images/pose-11.png]", "create"),
        ("dataset.lucy.captions", "wait"),
        ("dataset.lucy.status", "update"),
        ("model.lucy-lora", "replace"),
        ("model.lucy-lora.training", "create"),
    ]
    assert outputs_of(changes(plan)) == [(address, "replace") for address in OUTPUTS]
    clone = plan.action("dataset.lucy")
    assert clone.reason == (
        f"completed datasets are frozen: new version {dataset_name} cloned from {DATASET_NAME}, "
        "unchanged images are not uploaded again"
    )
    assert [(c.attribute, c.old, c.new) for c in clone.changes] == [("name", DATASET_NAME, dataset_name), ("images", 10, "11 (+1 -0)")]
    model = plan.action("model.lucy-lora")
    assert model.reason == (
        f"the dataset changed ({DATASET_NAME} -> {dataset_name}) and a model trains on one dataset version: "
        f"new model version {model_name} ({MODEL_NAME} is kept)"
    )
    assert model.approval
    assert plan.notes == (f"earlier versions kept: model {MODEL_NAME}, dataset {DATASET_NAME} (apply --prune deletes them)",)

    before = team.stats()
    team.apply(plan, auto_approve=True)
    sent = team.sent(before, team.stats())
    assert sent[UPLOADS] == 1
    assert sent["POST /v1/tailored-gen/datasets/{dataset_id}/clone"] == 1
    assert sent["POST /v1/tailored-gen/models/{model_id}/start_training"] == 1
    remote = team.project()
    assert sorted(remote["datasets"]) == sorted([DATASET_NAME, dataset_name])
    assert len(remote["datasets"][DATASET_NAME]["images"]) == 10
    new_images = remote["datasets"][dataset_name]["images"]
    assert len(new_images) == 11 and any(name.startswith("pose-11.") for name in new_images)
    assert remote["datasets"][dataset_name]["status"] == "completed"
    assert {name: m["status"] for name, m in remote["models"].items()} == {MODEL_NAME: "Completed", model_name: "Completed"}
    assert not team.plan().has_changes


def test_prune_deletes_the_old_versions_and_needs_approval_for_the_trained_model(team):
    _add_image(team)
    dataset_name, model_name = _names(team)
    team.apply(auto_approve=True)
    outputs = team.dir / "outputs"
    kept_aside = sorted(p.name for p in (outputs / "places").glob("*.*.png"))
    assert len(kept_aside) == 8  # the images of the old model, moved aside

    plan = team.plan(prune=True)
    deletes = changes(plan)
    assert deletes[-2:] == [
        (f"model.lucy-lora.version[{MODEL_NAME}]", "delete"),
        (f"dataset.lucy.version[{DATASET_NAME}]", "delete"),
    ]
    assert len(deletes) == 12 and all(kind == "delete" for _, kind in deletes)
    # the trained model and the 10 outputs kept aside from it are paid work: each needs approval
    assert [a.address for a in plan.needs_approval] == [a for a, _ in deletes[:-1]]
    assert plan.action(f"model.lucy-lora.version[{MODEL_NAME}]").reason == "an earlier version of the spec's model: --prune deletes it"
    assert plan.action(f"dataset.lucy.version[{DATASET_NAME}]").depends_on == (f"model.lucy-lora.version[{MODEL_NAME}]",)

    with pytest.raises(ApprovalRequired):
        team.pipeline().apply(prune=True)
    assert MODEL_NAME in team.project()["models"]

    result = team.apply(prune=True, auto_approve=True)
    assert sorted(s.address for s in result.steps if s.status == "done") == sorted(a for a, _ in deletes)
    remote = team.project()
    assert list(remote["datasets"]) == [dataset_name] and list(remote["models"]) == [model_name]
    assert sorted(p.name for p in (outputs / "places").glob("*.png")) == sorted(
        f"{place}-{time}-seed{seed}.png" for place in ("beach", "city") for time in ("dawn", "night") for seed in (1, 2)
    )
    assert not team.plan(prune=True).has_changes
    # the gallery's thumbnails are those of the outputs left: 8 places and the portrait
    assert len(list((outputs / ".thumbs").glob("*.jpg"))) == 9


def test_changed_manual_caption_is_a_new_version_with_that_caption(team):
    team.edit("action: walking to the left, arms swinging", "action: running to the right")
    dataset_name, model_name = _names(team)
    plan = team.plan()
    assert without_outputs(changes(plan)) == [
        ("dataset.lucy", "replace"),
        ("dataset.lucy.caption[images/pose-02.png]", "update"),
        ("dataset.lucy.status", "update"),
        ("model.lucy-lora", "replace"),
        ("model.lucy-lora.training", "create"),
    ]
    # the spec changed: nobody edited the dataset, so this is no drift; the clone copies the
    # refined caption of pose-04, which is unchanged, so it is not sent again
    caption = plan.action("dataset.lucy.caption[images/pose-02.png]")
    assert caption.reason == "manual caption from the spec"
    assert [(c.attribute, c.old, c.new) for c in caption.changes] == [
        ("caption.action", "walking to the left, arms swinging", "running to the right")
    ]
    assert '        caption.action: "walking to the left, arms swinging" -> "running to the right"' in render_text(plan)

    before = team.stats()
    team.apply(plan, auto_approve=True)
    sent = team.sent(before, team.stats())
    assert UPLOADS not in sent
    assert sent["PUT /v1/tailored-gen/datasets/{dataset_id}/images/{image_id}"] == 1

    async def caption_of_pose_02(client):
        [project] = [p for p in await client.list_projects() if p.name == "lucy-example"]
        [dataset] = [d for d in await client.list_project_datasets(project.id) if d.name == dataset_name]
        return {i.image_name.split(".")[0]: (i.caption, i.caption_source) for i in await client.list_images(dataset.id)}["pose-02"]

    caption, source = team.console(caption_of_pose_02)
    assert source == "manual" and "running to the right" in caption
    assert sorted(team.project()["models"]) == sorted([MODEL_NAME, model_name])
    assert not team.plan().has_changes


def test_changed_refinement_instruction_makes_a_new_schema_and_dataset_version(team):
    old_pins = load_lock(team.lock_file)
    team.edit("- Remove references to the plain background colours", "- Remove references to the sky")
    dataset_name, _ = _names(team)
    plan = team.plan()
    assert without_outputs(changes(plan)) == [
        ("dataset.lucy", "replace"),
        ("dataset.lucy.schema", "update"),
        ("dataset.lucy.captions", "update"),
        ("dataset.lucy.caption[images/pose-02.png]", "update"),
        ("dataset.lucy.caption[images/pose-04.png]", "update"),
        ("dataset.lucy.status", "update"),
        ("model.lucy-lora", "replace"),
        ("model.lucy-lora.training", "create"),
    ]
    assert plan.action("dataset.lucy.schema").reason == (
        "generate a visual schema from 5 sample images, refine it with 2 instructions in order, "
        "then pin it in the lock file and set it on the dataset"
    )
    assert plan.action("dataset.lucy.captions").reason == (
        "regenerate all captions: the visual schema is set by this plan and 10 images are already in the dataset"
    )
    # the refined caption was pinned for the old schema: it is refined again
    assert plan.action("dataset.lucy.caption[images/pose-04.png]").reason == (
        "refine the automatic caption with 1 instruction, pin it in the lock file and set it"
    )

    before = team.stats()
    team.apply(plan, auto_approve=True)
    sent = team.sent(before, team.stats())
    assert sent["POST /v1/tailored-gen/generate_visual_schema"] == 1
    assert sent["POST /v1/tailored-gen/refine_structured_prompt"] == 3  # 2 for the schema, 1 for the caption
    assert UPLOADS not in sent
    new_pins = load_lock(team.lock_file)
    [schema_pin] = new_pins.visual_schemas.values()
    assert schema_pin["refine"] == ["The character's name is Lucy", "Remove references to the sky"]
    assert not set(new_pins.visual_schemas) & set(old_pins.visual_schemas)
    assert not set(new_pins.captions) & set(old_pins.captions)
    assert new_pins.structured_prompts == old_pins.structured_prompts
    assert dataset_name in team.project()["datasets"]
    assert not team.plan().has_changes
