"""spec.lock.yaml or .bria/ lost (a fresh clone, a new laptop, `rm -rf`): apply converges on what
exists, never making anything twice. State is rebuilt from the remote (names carry the content's
fingerprint); lock pins are re-derived from what the service already holds, without asking it again."""

from __future__ import annotations

import shutil

import pytest
from scenario_helpers import DATASET_NAME, MODEL_NAME, changes

from bria_pipeline.state.store import StateStore

pytestmark = pytest.mark.timeout(60)


def test_lost_lock_file_is_pinned_again_from_the_service_and_the_manifest_without_a_request(team):
    original = team.lock_file.read_text(encoding="utf-8")
    team.lock_file.unlink()
    plan = team.plan()
    assert changes(plan) == [
        ("dataset.lucy.schema", "create"),
        ("dataset.lucy.caption[images/pose-04.png]", "create"),
        ("structured_prompt.portrait", "update"),
    ]
    assert plan.action("dataset.lucy.schema").reason == (
        f"the lock file has no pin for these schema inputs: pinned from {DATASET_NAME}, which was made from them"
    )
    assert plan.action("dataset.lucy.caption[images/pose-04.png]").reason == (
        f"the lock file has no pin for this refined caption: pinned from {DATASET_NAME}"
    )
    assert plan.action("structured_prompt.portrait").reason == (
        "pin the structured prompt generated earlier (kept in the manifest) into spec.lock.yaml; no request"
    )
    assert not plan.billed

    before = team.stats()
    result = team.apply(plan)
    after = team.stats()
    assert after["mutating"] == before["mutating"]
    assert team.sent(before, after) == {
        "GET /v1/tailored-gen/projects": 1,
        "GET /v1/tailored-gen/projects/{project_id}/datasets": 1,
        "GET /v1/tailored-gen/projects/{project_id}/models": 1,
        "GET /v1/tailored-gen/datasets/{dataset_id}/images": 1,  # the completed dataset's captions
    }
    assert [s.status for s in result.steps] == ["done", "done", "done"]
    assert team.lock_file.read_text(encoding="utf-8") == original
    assert not team.plan().has_changes


def test_lost_state_directory_is_rebuilt_from_the_remote_with_nothing_sent(team):
    before_remote = team.remote()
    recorded = {(r.kind, r.id, r.name) for r in StateStore.for_spec(team.spec).records}
    shutil.rmtree(team.dir / ".bria")
    plan = team.plan()
    assert changes(plan) == []
    before = team.stats()
    team.apply()
    assert team.stats()["mutating"] == before["mutating"]
    assert team.remote() == before_remote
    assert {(r.kind, r.id, r.name) for r in StateStore.for_spec(team.spec).records} == recorded
    assert recorded == {("project", 10001, "lucy-example"), ("dataset", 20001, DATASET_NAME), ("model", 30001, MODEL_NAME)}


def test_interrupted_first_apply_then_both_local_files_lost_converges_without_duplicates(new_team):
    # the first apply got as far as the project, the dataset, its schema and two images
    first = new_team.pipeline().apply(
        targets=["dataset.lucy.image[images/pose-01.png]", "dataset.lucy.image[images/pose-02.png]"]
    )
    assert first.ok
    assert new_team.project()["datasets"][DATASET_NAME]["status"] == "draft"
    assert len(new_team.project()["datasets"][DATASET_NAME]["images"]) == 2
    schema_pin = new_team.lock_file.read_text(encoding="utf-8")
    shutil.rmtree(new_team.dir / ".bria")
    new_team.lock_file.unlink()

    plan = new_team.plan()
    planned = changes(plan)
    # the draft is carried on with: its schema pinned back from it, only the missing images uploaded
    assert planned[:2] == [("dataset.lucy.schema", "create"), ("dataset.lucy.image[images/pose-03.png]", "create")]
    assert ("project", "create") not in planned and ("dataset.lucy", "create") not in planned
    assert plan.action("dataset.lucy.schema").step.TAG == "pin_visual_schema"
    uploads = [a for a, kind in planned if ".image[" in a]
    assert uploads == [f"dataset.lucy.image[images/pose-{n:02d}.png]" for n in range(3, 11)]

    new_team.apply(plan)
    remote = new_team.remote()
    assert list(remote) == ["lucy-example"]
    assert list(remote["lucy-example"]["datasets"]) == [DATASET_NAME]
    assert len(remote["lucy-example"]["datasets"][DATASET_NAME]["images"]) == 10
    assert list(remote["lucy-example"]["models"]) == [MODEL_NAME]
    assert "visual_schemas" in new_team.lock_file.read_text(encoding="utf-8")
    assert schema_pin.split("visual_schemas:")[1] in new_team.lock_file.read_text(encoding="utf-8")
    assert not new_team.plan().has_changes
