"""plan and apply against the real sandbox (in process): idempotence, new versions, drift, approvals."""

from __future__ import annotations

import pytest
from apply_helpers import console, remote_snapshot, sandbox_stats

from bria_pipeline.apply.errors import ApprovalRequired
from bria_pipeline.lockfile import load_lock
from bria_pipeline.plan.errors import StalePlanError
from bria_pipeline.state.errors import AmbiguousRemoteError

pytestmark = pytest.mark.timeout(120)


def _changes(plan):
    return [(a.address, a.kind) for a in plan.changes]


def test_first_apply_builds_everything_and_second_apply_sends_no_mutating_request(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(generate=True)
    first = make_pipeline().apply(auto_approve=True)
    assert first.ok, first.steps
    snapshot = remote_snapshot(sandbox_app)
    assert snapshot["projects"] == ["lucy-test"]
    [dataset] = snapshot["datasets"]
    assert dataset["status"] == "completed" and len(dataset["images"]) == 6
    captions = {name.split(".")[0]: (caption, source) for name, caption, source in dataset["images"]}
    assert captions["pose-02"][1] == "manual" and "Lucy waving" in captions["pose-02"][0]
    assert captions["pose-03"][1] == "manual"  # refined, pinned, set
    [model] = snapshot["models"]
    assert model["status"] == "Completed" and model["params"]["rank"] == 16
    lock = load_lock(spec_dir.root / "spec.lock.yaml")
    assert lock.visual_schemas and lock.captions
    assert len(list((spec_dir.root / "outputs" / "places").glob("*.png"))) == 2

    before = sandbox_stats(sandbox_app)
    pipeline = make_pipeline()
    plan = pipeline.plan()
    assert not plan.has_changes
    assert plan.requests == 3  # list_projects, list_project_datasets, list_project_models
    second = pipeline.apply(auto_approve=True)
    after = sandbox_stats(sandbox_app)
    assert second.ok and not second.steps
    assert after["mutating"] - before["mutating"] == 0
    assert after["total"] - before["total"] == 6  # two observations of three list calls each
    assert remote_snapshot(sandbox_app) == snapshot


def test_changed_image_after_completion_clones_and_uploads_only_that_image(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write()
    assert make_pipeline().apply(auto_approve=True).ok
    old = remote_snapshot(sandbox_app)
    spec_dir.image(4, variant=1)
    plan = make_pipeline().plan()
    images = [(a.address, a.kind) for a in plan.changes if ".image[" in a.address]
    assert [k for _, k in images] == ["delete", "create"]
    assert images[1][0] == "dataset.lucy.image[images/pose-04.png]"
    assert plan.action("dataset.lucy").kind == "replace"
    assert "completed datasets are frozen" in plan.action("dataset.lucy").reason
    before = sandbox_stats(sandbox_app)
    result = make_pipeline().apply(plan, auto_approve=True)
    assert result.ok, result.steps
    after = sandbox_stats(sandbox_app)
    uploads = "POST /v1/tailored-gen/datasets/{dataset_id}/images"
    assert after["routes"].get(uploads, 0) - before["routes"].get(uploads, 0) == 1
    new = remote_snapshot(sandbox_app)
    assert len(new["datasets"]) == 2  # the old version is kept
    assert {d["name"] for d in old["datasets"]} < {d["name"] for d in new["datasets"]}
    assert len(new["models"]) == 2 and all(m["status"] == "Completed" for m in new["models"])


def test_changed_rank_needs_approval_then_trains_a_new_model_version_and_keeps_the_old(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(rank=16)
    assert make_pipeline().apply(auto_approve=True).ok
    spec_dir.write(rank=32)
    plan = make_pipeline().plan()
    assert _changes(plan) == [("model.lucy-lora", "replace"), ("model.lucy-lora.training", "create")]
    assert "training parameter rank 16 -> 32 cannot change after training: new model version" in plan.action("model.lucy-lora").reason
    with pytest.raises(ApprovalRequired):
        make_pipeline().apply()
    assert make_pipeline().apply(auto_approve=True).ok
    models = remote_snapshot(sandbox_app)["models"]
    assert sorted(m["params"]["rank"] for m in models) == [16, 32]
    assert not make_pipeline().plan().has_changes
    pruned = make_pipeline().plan(prune=True)
    assert [a.kind for a in pruned.changes] == ["delete"] and pruned.changes[0].approval


def test_drift_in_the_console_is_shown_and_repaired(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write()
    assert make_pipeline().apply(auto_approve=True).ok

    async def tamper(client):
        [project] = await client.list_projects()
        await client.update_project(project.id, project_name="Renamed by hand", project_description="edited")

    console(sandbox_app, tamper)
    plan = make_pipeline().plan()
    assert _changes(plan) == [("project", "update")]
    attributes = {c.attribute: (c.old, c.new) for c in plan.action("project").changes}
    assert attributes == {
        "project_name": ("Renamed by hand", "lucy-test"),
        "project_description": ("edited", "Lucy, the test mascot"),
    }
    assert make_pipeline().apply(auto_approve=True).ok
    assert remote_snapshot(sandbox_app)["projects"] == ["lucy-test"]
    assert not make_pipeline().plan().has_changes


def test_image_deleted_from_a_draft_is_uploaded_again(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(complete=False, models=False)
    assert make_pipeline().apply(auto_approve=True).ok

    async def delete_one(client):
        [project] = await client.list_projects()
        [dataset] = await client.list_project_datasets(project.id)
        images = await client.list_images(dataset.id)
        victim = next(i for i in images if i.image_name.startswith("pose-05"))
        await client.delete_image(dataset.id, victim.id)

    console(sandbox_app, delete_one)
    plan = make_pipeline().plan()
    assert _changes(plan) == [("dataset.lucy.image[images/pose-05.png]", "create"), ("dataset.lucy.captions", "wait")]
    assert make_pipeline().apply(auto_approve=True).ok
    [dataset] = remote_snapshot(sandbox_app)["datasets"]
    assert len(dataset["images"]) == 6 and dataset["status"] == "draft"
    assert not make_pipeline().plan().has_changes


def test_stopped_training_becomes_a_new_model_revision(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(steps=5000)  # long enough to stop it
    result = make_pipeline().apply(auto_approve=True, wait=False)
    assert result.ok and [s.address for s in result.still_running] == ["model.lucy-lora.training"]
    assert _changes(make_pipeline().plan()) == [("model.lucy-lora.training", "wait")]

    async def stop(client):
        [project] = await client.list_projects()
        [model] = await client.list_project_models(project.id)
        await client.stop_training(model.id)

    console(sandbox_app, stop)
    plan = make_pipeline().plan()
    action = plan.action("model.lucy-lora")
    assert action.kind == "replace" and action.step.name.endswith("-r2")
    assert "cannot be resumed" in action.reason
    result = make_pipeline().apply(auto_approve=True, wait=False)
    assert result.ok
    names = sorted(m["name"] for m in remote_snapshot(sandbox_app)["models"])
    assert len(names) == 2 and names[1] == names[0] + "-r2"


def test_saved_plan_applies_exactly_and_is_refused_when_the_remote_changed(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(models=False, complete=False)
    saved = make_pipeline().plan()
    console(sandbox_app, lambda client: client.create_project("someone-else", ip_medium="illustration", ip_type="icons"))
    assert make_pipeline().apply(saved, auto_approve=True).ok  # another project does not touch this spec's remote
    stale = make_pipeline().plan()
    assert not stale.has_changes
    spec_dir.write(models=False, complete=False, description="A new description")
    changed = make_pipeline().plan()
    assert _changes(changed) == [("project", "update")]

    async def rename(client):
        project = next(p for p in await client.list_projects() if p.name == "lucy-test")
        await client.update_project(project.id, ip_name="Someone")

    console(sandbox_app, rename)
    with pytest.raises(StalePlanError, match="the remote changed"):
        make_pipeline().apply(changed, auto_approve=True)
    spec_dir.write(models=False, complete=False, description="Yet another")
    with pytest.raises(StalePlanError, match="the spec changed"):
        make_pipeline().apply(changed, auto_approve=True)


def test_two_projects_with_the_spec_name_are_refused_until_one_is_imported(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(models=False)

    async def twins(client):
        a = await client.create_project("lucy-test", ip_medium="illustration", ip_type="defined_character", ip_name="Lucy",
                                        ip_description="a girl with purple hair")
        await client.create_project("lucy-test", ip_medium="illustration", ip_type="defined_character", ip_name="Lucy",
                                    ip_description="a girl with purple hair")
        return a.id

    first_id = console(sandbox_app, twins)
    with pytest.raises(AmbiguousRemoteError, match="2 projects in the organisation are named 'lucy-test'") as info:
        make_pipeline().plan()
    assert f"bria-pipeline import {spec_dir.spec} project {first_id}   (or another of: {first_id}, " \
        in info.value.describe()  # the command copied as printed adopts the first
    make_pipeline().import_("project", first_id)
    plan = make_pipeline().plan()
    assert plan.bindings["project"] == first_id


def test_destroy_deletes_only_what_the_spec_owns(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write()
    assert make_pipeline().apply(auto_approve=True).ok

    async def add_foreign(client):
        [project] = await client.list_projects()
        await client.create_dataset(project.id, "hand-made")

    console(sandbox_app, add_foreign)
    destroy = make_pipeline().plan_destroy()
    assert [a.kind for a in destroy.changes] == ["delete", "delete"]
    assert any("project lucy-test is kept" in n for n in destroy.notes)
    result = make_pipeline().destroy(auto_approve=True)
    assert result.ok
    snapshot = remote_snapshot(sandbox_app)
    assert snapshot["projects"] == ["lucy-test"]
    assert [d["name"] for d in snapshot["datasets"]] == ["hand-made"] and snapshot["models"] == []


def test_show_lists_resources_with_status_progress_and_checkpoints(spec_dir, make_pipeline):
    spec_dir.write()
    assert make_pipeline().apply(auto_approve=True).ok
    state = make_pipeline().show()
    assert state["project"]["name"] == "lucy-test"
    [dataset] = state["datasets"]
    assert dataset["current"] and dataset["status"] == "completed" and dataset["images"] == 6
    [model] = state["models"]
    assert model["status"] == "Completed" and model["checkpoints"] == [100, 200] and model["progress"] == "200/200 steps"
    assert state["plan"] == "No changes. The remote matches the spec."


def test_refresh_rebuilds_the_state_file_from_the_remote(spec_dir, make_pipeline):
    spec_dir.write(models=False)
    pipeline = make_pipeline()
    assert pipeline.apply(auto_approve=True).ok
    state_file = pipeline.state_dir / "state.json"
    recorded = state_file.read_text()
    state_file.unlink()
    make_pipeline().refresh()
    import json

    assert json.loads(state_file.read_text())["records"] == json.loads(recorded)["records"]


def test_lock_file_pins_are_reused_instead_of_asking_the_service_again(spec_dir, tmp_path):
    import httpx

    from bria_pipeline.pipeline import Pipeline
    from bria_pipeline.sandbox import create_app

    spec_dir.write(models=False)
    first, second = (create_app(tmp_path / f"org-{n}.sqlite", training_seconds=0.3) for n in range(2))
    try:
        assert Pipeline(spec_dir.spec, sandbox=True, transport=httpx.ASGITransport(app=first)).apply(auto_approve=True).ok
        lock_before = (spec_dir.root / "spec.lock.yaml").read_text()
        # another organisation, the same spec and lock file (as a colleague or CI would have it)
        (spec_dir.root / ".bria" / "spec" / "state.json").unlink()
        assert Pipeline(spec_dir.spec, sandbox=True, transport=httpx.ASGITransport(app=second)).apply(auto_approve=True).ok
        routes = sandbox_stats(second)["routes"]
        assert "POST /v1/tailored-gen/generate_visual_schema" not in routes
        assert "POST /v1/tailored-gen/refine_structured_prompt" not in routes
        assert (spec_dir.root / "spec.lock.yaml").read_text() == lock_before
        assert remote_snapshot(second)["datasets"] == remote_snapshot(first)["datasets"]
    finally:
        first.state.sandbox.close()
        second.state.sandbox.close()


def test_advanced_dataset_is_zipped_staged_and_bulk_uploaded_once(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(models=False, captions=False)
    text = spec_dir.spec.read_text().replace("    images:\n", "    upload_type: advanced\n    staging: {kind: sandbox}\n    images:\n", 1)
    spec_dir.spec.write_text(text)
    plan = make_pipeline().plan()
    assert plan.action("dataset.lucy.images").step.TAG == "bulk_upload"
    result = make_pipeline().apply(auto_approve=True)
    assert result.ok, result.steps
    [dataset] = remote_snapshot(sandbox_app)["datasets"]
    assert dataset["status"] == "completed" and len(dataset["images"]) == 6
    assert all(source == "automatic" for _, _, source in dataset["images"])
    before = sandbox_stats(sandbox_app)
    assert not make_pipeline().plan().has_changes
    assert sandbox_stats(sandbox_app)["mutating"] == before["mutating"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lost_responses_are_read_back_and_nothing_is_made_twice(spec_dir, tmp_path, seed):
    import httpx
    from sandbox_time import DrivenPipeline

    from bria_pipeline.sandbox import FaultPlan, ManualClock, create_app

    spec_dir.write()
    clock = ManualClock()  # the trainings and the retries' backoff waits move it: no wall time passes
    clean = create_app(tmp_path / "clean.sqlite", clock=clock, training_seconds=0.2)
    lossy = create_app(tmp_path / "lossy.sqlite", clock=clock, training_seconds=0.2,
                       faults=FaultPlan(seed=seed, lose_response_rate=0.3))

    def pipeline(app):
        return DrivenPipeline(spec_dir.spec, clock, sandbox=True, transport=httpx.ASGITransport(app=app))

    try:
        assert pipeline(clean).apply(auto_approve=True).ok
        for name in ("spec.lock.yaml", ".bria"):
            target = spec_dir.root / name
            if target.is_dir():
                import shutil

                shutil.rmtree(target)
            else:
                target.unlink()
        outcome = None
        for _ in range(5):  # a step whose answer was lost twice in a row fails; the next apply goes on
            outcome = pipeline(lossy).apply(auto_approve=True)
            if outcome.ok:
                break
        assert outcome is not None and outcome.ok, outcome.steps
        assert remote_snapshot(lossy) == remote_snapshot(clean)
    finally:
        clean.state.sandbox.close()
        lossy.state.sandbox.close()


def test_a_hand_made_draft_dataset_is_imported_and_brought_to_the_spec(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(models=False)

    async def by_hand(client):
        project = await client.create_project("lucy-test", ip_medium="illustration", ip_type="defined_character",
                                              ip_name="Lucy", ip_description="a girl with purple hair")
        dataset = await client.create_dataset(project.id, "my first try")
        await client.create_dataset(project.id, "unrelated")
        return dataset.id

    dataset_id = console(sandbox_app, by_hand)
    assert "is now dataset.lucy" in make_pipeline().import_("dataset.lucy", dataset_id)
    plan = make_pipeline().plan()
    rename = plan.action("dataset.lucy")
    assert rename.kind == "update" and rename.changes[0].old == "my first try"
    assert make_pipeline().apply(auto_approve=True).ok
    names = sorted(d["name"] for d in remote_snapshot(sandbox_app)["datasets"])
    assert names[1] == "unrelated" and names[0].startswith("lucy-")
    assert not make_pipeline().plan().has_changes
