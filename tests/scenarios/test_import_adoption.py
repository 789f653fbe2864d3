"""`import` of a project and dataset made by hand in the Console: what matches the spec by content
is adopted (no image deleted and uploaded again, captions written in the Console kept unless the
spec sets them), and the plan describes the differences as differences from the spec, not drift."""

from __future__ import annotations

import json

import pytest
from scenario_helpers import changes

pytestmark = pytest.mark.timeout(60)

SCHEMA = json.dumps({"subject": "a girl with purple hair", "action": "what she does", "background": "the place"})
CONSOLE_CAPTION = json.dumps({"subject": "Lucy, written by hand in the Console", "action": "waving"})
SPEC = f"""version: 1
project:
  name: lucy-example
  ip_type: defined_character
  ip_medium: illustration
  ip_name: Lucy
  ip_description: a girl with purple hair
datasets:
  lucy:
    images:
      - path: images/pose-*.png
    visual_schema:
      inline: '{SCHEMA}'
    captions:
      images/pose-02.png:
        caption: {{subject: Lucy in a teal dress, action: walking}}
    complete: false
"""
UPLOADS = "POST /v1/tailored-gen/datasets/{dataset_id}/images"


def test_an_imported_dataset_keeps_what_matches_by_content_and_its_console_captions(new_team):
    team = new_team
    team.spec.write_text(SPEC, encoding="utf-8")
    images = team.dir / "images"

    async def made_by_hand(client):
        project = await client.create_project("Lucy (handmade)", ip_medium="illustration", ip_type="defined_character",
                                              ip_name="Lucy", ip_description="a girl with purple hair")
        dataset = await client.create_dataset(project.id, "lucy-v1")
        await client.update_dataset(dataset.id, visual_schema=SCHEMA)
        for n in range(1, 7):
            made = await client.upload_image(dataset.id, file=(images / f"pose-0{n}.png").read_bytes(), image_name=f"pose-0{n}.png")
            if n == 3:
                await client.update_image_caption(dataset.id, made.id, caption=CONSOLE_CAPTION)
        return project.id, dataset.id

    project_id, dataset_id = team.console(made_by_hand)
    pipeline = team.pipeline()
    assert pipeline.import_("project", project_id) == f"project 'Lucy (handmade)' (id {project_id}) is now this spec's project"
    assert pipeline.import_("dataset.lucy", dataset_id) == (
        f"dataset 'lucy-v1' (id {dataset_id}) is now dataset.lucy; 6 of its 6 images are the spec's by content"
    )
    name = team.pipeline().desired.datasets["lucy"].remote_name

    plan = team.plan()
    assert changes(plan) == [
        ("project", "update"),
        ("dataset.lucy", "update"),
        *((f"dataset.lucy.image[images/pose-{n:02d}.png]", "create") for n in range(7, 11)),
        ("dataset.lucy.captions", "wait"),
        ("dataset.lucy.caption[images/pose-02.png]", "update"),
    ]
    assert plan.action("project").reason == "imported as 'Lucy (handmade)': project_name differs from the spec: updated in place"
    assert plan.action("dataset.lucy").reason == (
        f"imported as 'lucy-v1': renamed to {name}, the name that identifies the spec's content"
    )
    assert plan.action("dataset.lucy.image[images/pose-07.png]").reason == "in the spec, not in imported dataset lucy-v1"
    assert plan.action("dataset.lucy.caption[images/pose-02.png]").reason == "manual caption from the spec"
    assert "drift" not in " ".join(a.reason for a in plan.changes)

    before = team.stats()
    team.apply(plan)
    sent = team.sent(before, team.stats())
    assert sent[UPLOADS] == 4
    assert "DELETE /v1/tailored-gen/datasets/{dataset_id}/images/{image_id}" not in sent
    assert sent["PUT /v1/tailored-gen/datasets/{dataset_id}/images/{image_id}"] == 1

    async def captions(client):
        return {i.image_name: (i.caption, i.caption_source) for i in await client.list_images(dataset_id)}

    remote = team.console(captions)
    assert len(remote) == 10
    assert remote["pose-03.png"] == (CONSOLE_CAPTION, "manual")  # written in the Console, kept
    assert list(team.project()["datasets"]) == [name]
    assert not team.plan().has_changes
