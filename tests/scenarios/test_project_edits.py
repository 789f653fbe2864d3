"""Weeks of project edits: a description changes in place; an ip_type change is a new project,
refused until someone approves it."""

from __future__ import annotations

import pytest
from scenario_helpers import OUTPUTS, changes, outputs_of

from bria_pipeline.apply.errors import ApprovalRequired

pytestmark = pytest.mark.timeout(60)


def test_edited_description_is_one_in_place_update_and_nothing_else(team):
    team.edit("description: A girl with purple hair, drawn in flat colours", "description: Lucy, now with a red scarf")
    plan = team.plan()
    assert changes(plan) == [("project", "update")]
    update = plan.action("project")
    assert [(c.attribute, c.old, c.new) for c in update.changes] == [
        ("project_description", "A girl with purple hair, drawn in flat colours", "Lucy, now with a red scarf")
    ]
    assert update.reason == "project_description differs from the spec: updated in place"
    assert plan.summary_line() == (
        "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete. Cost: nothing billed; 1 request, status polls not counted."
    )

    before = team.stats()
    team.apply(plan)
    assert team.sent(before, team.stats()) == {
        "GET /v1/tailored-gen/projects": 1,
        "GET /v1/tailored-gen/projects/{project_id}/datasets": 1,
        "GET /v1/tailored-gen/projects/{project_id}/models": 1,
        "PUT /v1/tailored-gen/projects/{project_id}": 1,
    }
    project = team.project()
    assert project["description"] == "Lucy, now with a red scarf"
    assert project["id"] == 10001
    assert not team.plan().has_changes


def test_changed_ip_type_is_a_new_project_refused_without_approval(team):
    before_remote = team.remote()
    team.edit("ip_type: defined_character", "ip_type: object_variants")
    plan = team.plan()
    replaced = plan.action("project")
    assert replaced.kind == "replace" and replaced.approval
    assert replaced.reason == (
        "ip_type defined_character -> object_variants: fixed when a project is created, so a new project "
        "'lucy-example' is made; the old one (id 10001, with its datasets and models) is kept, renamed to "
        "'lucy-example (replaced: was defined_character/illustration)'"
    )
    # the new project starts from nothing: every step of the lifecycle again, pins reused
    assert changes(plan)[:3] == [("project", "replace"), ("dataset.lucy", "create"), ("dataset.lucy.schema", "create")]
    assert plan.action("dataset.lucy.schema").reason == "set the schema pinned in the lock file on the dataset"
    assert plan.needs_approval == (replaced,)
    # the model is trained again in the new project: the images of the old one are made again
    assert outputs_of(changes(plan)) == [(address, "replace") for address in OUTPUTS]

    with pytest.raises(ApprovalRequired) as refused:
        team.pipeline().apply()
    assert str(refused.value) == "this plan deletes or supersedes trained work and needs approval:\n  project"
    assert "--auto-approve" in refused.value.describe()
    assert team.remote() == before_remote  # nothing was sent

    team.apply(auto_approve=True)
    remote = team.remote()
    assert sorted(remote) == ["lucy-example", "lucy-example (replaced: was defined_character/illustration)"]
    old = remote["lucy-example (replaced: was defined_character/illustration)"]
    assert old["id"] == 10001 and old["ip_type"] == "defined_character"
    assert list(old["datasets"]) == ["lucy-720be995"] and list(old["models"]) == ["lucy-lora-ce6edf7d"]
    new = remote["lucy-example"]
    assert new["ip_type"] == "object_variants"
    assert new["datasets"]["lucy-720be995"]["status"] == "completed"
    assert new["models"]["lucy-lora-ce6edf7d"]["status"] == "Completed"
    assert len(list((team.dir / "outputs" / "places").glob("*.replaced-*.png"))) == 8  # the old model's, kept aside
    assert not team.plan().has_changes
