"""The planner is a pure function of (desired, observed, lock): every rule, with plain data."""

from __future__ import annotations

from dataclasses import replace

import pytest
from plan_builders import (
    SCHEMA,
    changes_only,
    converged,
    dataset,
    desired,
    image,
    images,
    model,
    pinned,
    remote_dataset,
    remote_images,
    remote_model,
    remote_project,
)

from bria_pipeline.plan.steps import CloneDataset, PinVisualSchema
from bria_pipeline.lockfile import Lock
from bria_pipeline.model import VisualSchemaSpec
from bria_pipeline.plan.errors import PlanError
from bria_pipeline.plan.planner import plan, plan_destroy
from bria_pipeline.state.observed import Observed, ObservedDataset, ObservedImage, ObservedModel, Recorded


def test_empty_remote_plans_the_whole_lifecycle_in_dependency_order():
    d = desired()
    p = plan(d, Observed(), Lock())
    addresses = [a.address for a in p.changes]
    assert addresses[:3] == ["project", "dataset.lucy", "dataset.lucy.schema"]
    uploads = [a for a in p.changes if a.address.startswith("dataset.lucy.image[")]
    assert len(uploads) == 6 and all(a.kind == "create" for a in uploads)
    order = {a: i for i, a in enumerate(addresses)}
    assert order["dataset.lucy.captions"] > max(order[a.address] for a in uploads)
    assert order["dataset.lucy.status"] > order["dataset.lucy.captions"]
    assert order["model.lucy-lora"] > order["dataset.lucy.status"]
    assert order["model.lucy-lora.training"] > order["model.lucy-lora"]
    # every step waits for what it needs, and only for steps in the plan
    for action in p.actions:
        for dep in action.depends_on:
            assert dep in order and order[dep] < order[action.address], (action.address, dep)
    schema = p.action("dataset.lucy.schema")
    assert "generate a visual schema from 5 sample images" in schema.reason
    assert "refine it with 1 instruction" in schema.reason
    training = p.action("model.lucy-lora.training")
    assert training.billed and training.step.params.rank == 64
    assert p.summary_line().startswith("Plan: ")


def test_converged_remote_plans_no_change():
    d = desired()
    p = plan(d, converged(d), pinned(d))
    assert changes_only(p) == []
    assert not p.has_changes
    assert p.summary_line() == "No changes. The remote matches the spec."
    assert p.bindings == {"project": 1, "dataset.lucy": 10, "model.lucy-lora": 20}


def test_one_changed_image_in_a_draft_plans_exactly_that_upload_and_delete():
    d0 = desired()
    draft = remote_dataset(d0.datasets["lucy"], status="draft")
    new_images = images()[:5] + (image("images/pose-06.png", content="retouched"),)
    d1 = desired(datasets=[dataset(imgs=new_images)])
    # the draft carries the old fingerprint: it is reused (renamed), not started again
    observed = Observed(project=remote_project(d1), datasets=(draft,))
    p = plan(d1, observed, pinned(d1))
    changed = changes_only(p)
    assert ("dataset.lucy", "update") in changed
    image_steps = [(a, k) for a, k in changed if ".image[" in a]
    old_name = d0.datasets["lucy"].images[5].remote_name
    assert image_steps == [(f"dataset.lucy.image[{old_name}]", "delete"), ("dataset.lucy.image[images/pose-06.png]", "create")]
    rename = p.action("dataset.lucy")
    assert rename.changes[0].new == d1.datasets["lucy"].remote_name


def test_changed_image_after_completion_clones_a_new_version_and_uploads_only_the_difference():
    d0 = desired()
    done = remote_dataset(d0.datasets["lucy"], listed=True)
    new_images = images()[:5] + (image("images/pose-06.png", content="retouched"),)
    d1 = desired(datasets=[dataset(imgs=new_images)], models=[model()])
    observed = Observed(
        project=remote_project(d1),
        datasets=(done,),
        models=(remote_model(d0.models["lucy-lora"], d0.datasets["lucy"]),),
    )
    p = plan(d1, observed, pinned(d1))
    clone = p.action("dataset.lucy")
    assert clone.kind == "replace"
    assert isinstance(clone.step, CloneDataset) and clone.step.source_id == 10
    assert clone.reason.startswith("completed datasets are frozen: new version lucy-")
    assert "unchanged images are not uploaded again" in clone.reason
    uploads = [a.address for a in p.changes if ".image[" in a.address and a.kind == "create"]
    assert uploads == ["dataset.lucy.image[images/pose-06.png]"]
    deletes = [a for a in p.changes if ".image[" in a.address and a.kind == "delete"]
    assert len(deletes) == 1 and deletes[0].step.image_id is None  # ids of the clone are not known yet
    # the model trains on the new dataset version: a new model version, the old one kept
    assert p.action("model.lucy-lora").kind == "replace"
    assert "the dataset changed" in p.action("model.lucy-lora").reason
    assert any("earlier versions kept" in n for n in p.notes)


def test_changed_rank_plans_a_new_model_version_with_the_reason():
    d0 = desired()
    observed = converged(d0)
    d1 = desired(models=[model(rank=128)])
    p = plan(d1, observed, pinned(d1))
    assert changes_only(p) == [("model.lucy-lora", "replace"), ("model.lucy-lora.training", "create")]
    action = p.action("model.lucy-lora")
    assert "training parameter rank 64 -> 128 cannot change after training: new model version" in action.reason
    assert f"{d0.models['lucy-lora'].remote_name(d0.datasets['lucy'])} is kept" in action.reason
    assert ("rank", 64, 128) in [(c.attribute, c.old, c.new) for c in action.changes]
    assert action.approval  # it supersedes a trained model
    assert p.action("model.lucy-lora.training").billed


def test_changed_rank_before_training_started_renames_the_untrained_model():
    d0 = desired()
    observed = replace(converged(d0), models=(remote_model(d0.models["lucy-lora"], d0.datasets["lucy"], status="Created", params={}),))
    d1 = desired(models=[model(rank=128)])
    p = plan(d1, observed, pinned(d1))
    assert changes_only(p) == [("model.lucy-lora", "update"), ("model.lucy-lora.training", "create")]
    assert p.action("model.lucy-lora").step.changes["name"] == d1.models["lucy-lora"].remote_name(d1.datasets["lucy"])
    assert p.bindings["model.lucy-lora"] == 20


@pytest.mark.parametrize("status, word", [("Stopped", "was stopped"), ("Failed", "failed")])
def test_stopped_or_failed_training_plans_a_new_revision(status, word):
    d = desired()
    observed = converged(d)
    observed = replace(observed, models=(replace(observed.models[0], status=status),))
    p = plan(d, observed, pinned(d))
    action = p.action("model.lucy-lora")
    assert action.kind == "replace"
    name = d.models["lucy-lora"].remote_name(d.datasets["lucy"])
    assert action.step.name == f"{name}-r2"
    assert f"training of {name} {word}" in action.reason and "cannot be resumed" in action.reason
    assert p.action("model.lucy-lora.training").kind == "create"


def test_training_in_progress_is_waited_for_not_started_again():
    d = desired()
    observed = converged(d)
    observed = replace(observed, models=(replace(observed.models[0], status="InProgress", checkpoint_steps=(500,)),))
    p = plan(d, observed, pinned(d))
    assert changes_only(p) == [("model.lucy-lora.training", "wait")]
    assert " 1 to wait for. Cost: nothing billed; 0 requests" in p.summary_line()


def test_project_renamed_in_the_console_is_renamed_back():
    d = desired()
    observed = converged(d)
    observed = replace(
        observed,
        project=replace(observed.project, name="Lucy (old)"),
        recorded=(Recorded("project", 1, "lucy-brand"),),
    )
    p = plan(d, observed, pinned(d))
    assert changes_only(p) == [("project", "update")]
    action = p.action("project")
    assert "drift" in action.reason
    assert action.step.changes == {"project_name": "lucy-brand"}


def test_edited_description_is_updated_in_place():
    d = desired()
    observed = replace(converged(d), project=remote_project(d, ip_description="a girl with green hair"))
    p = plan(d, observed, pinned(d))
    action = p.action("project")
    assert action.kind == "update"
    assert [(c.attribute, c.old, c.new) for c in action.changes] == [
        ("ip_description", "a girl with green hair", "a girl with purple hair")
    ]


def test_dataset_renamed_in_the_console_is_renamed_back():
    d = desired()
    observed = converged(d)
    ds = observed.datasets[0]
    observed = replace(
        observed,
        datasets=(replace(ds, name="my favourite"),),
        recorded=(Recorded("dataset", ds.id, ds.name, "lucy"),),
    )
    p = plan(d, observed, pinned(d))
    assert changes_only(p) == [("dataset.lucy", "update")]
    assert p.action("dataset.lucy").changes[0].old == "my favourite"


def _records(observed: Observed) -> tuple[Recorded, ...]:
    """What .bria/ remembers after the apply that made `observed`."""
    return (
        (Recorded("project", observed.project.id, observed.project.name),)
        + tuple(Recorded("dataset", ds.id, ds.name, ds.name.rsplit("-", 1)[0]) for ds in observed.datasets)
        + tuple(Recorded("model", m.id, m.name, "lucy-lora") for m in observed.models)
    )


def test_a_model_deleted_in_the_console_is_made_again_and_the_plan_says_so():
    d = desired()
    full = converged(d)
    observed = replace(full, models=(), recorded=_records(full))
    p = plan(d, observed, pinned(d))
    assert changes_only(p) == [("model.lucy-lora", "create"), ("model.lucy-lora.training", "create")]
    name = full.models[0].name
    assert p.action("model.lucy-lora").reason == (
        f"model {name} (id 20) is gone: deleted outside bria-pipeline (drift); new model {name} on dataset {full.datasets[0].name}"
    )


def test_a_trained_model_is_kept_when_its_dataset_was_deleted_in_the_console():
    d = desired()
    full = converged(d)
    observed = replace(full, datasets=(), recorded=_records(full))
    p = plan(d, observed, pinned(d))
    made = [a for a, _ in changes_only(p)]
    assert made[0] == "dataset.lucy" and not [a for a in made if a.startswith("model.")]
    name = full.datasets[0].name
    assert p.action("dataset.lucy").reason == (
        f"dataset {name} (id 10) is gone: deleted outside bria-pipeline (drift); new dataset {name} (basic upload, 6 images)"
    )
    # the model was trained on exactly this content (its name says so): it is not trained again
    assert p.action("model.lucy-lora").kind == "noop"
    assert p.bindings["model.lucy-lora"] == 20


def test_an_untrained_model_whose_dataset_was_deleted_is_made_again():
    d = desired()
    full = converged(d)
    untrained = replace(full.models[0], status="Created", checkpoint_steps=(), training_parameters={})
    observed = replace(full, datasets=(), models=(untrained,), recorded=_records(full))
    p = plan(d, observed, pinned(d))
    assert p.action("model.lucy-lora").kind == "replace"
    assert "dataset id 10, which no longer exists" in p.action("model.lucy-lora").reason


def test_a_project_deleted_in_the_console_is_made_again_and_the_plan_says_so():
    d = desired()
    full = converged(d)
    p = plan(d, Observed(recorded=_records(full)), pinned(d))
    assert p.action("project").reason == (
        "project lucy-brand (id 1) is gone: deleted outside bria-pipeline (drift); no project named 'lucy-brand' in the organisation yet"
    )


def test_an_image_missing_from_the_current_draft_says_it_may_have_been_deleted():
    d = desired(models=[])
    ds = d.datasets["lucy"]
    draft = remote_dataset(ds, status="draft", imgs=remote_images(ds, 500)[:5])
    p = plan(d, Observed(project=remote_project(d), datasets=(draft,)), pinned(d))
    upload = p.action("dataset.lucy.image[images/pose-06.png]")
    assert upload.kind == "create"
    assert upload.reason == f"missing from {ds.remote_name}: deleted outside bria-pipeline (drift), or never uploaded by an interrupted apply"


def test_ip_type_change_makes_a_new_project_and_needs_approval():
    d = desired()
    observed = converged(d)
    d2 = desired(project=replace(d.project, ip_type="stylized_scene"))
    p = plan(d2, observed, pinned(d2))
    action = p.action("project")
    assert action.kind == "replace" and action.approval
    assert "fixed when a project is created" in action.reason
    assert action.step.old == "rename"
    assert p.action("dataset.lucy").kind == "create"  # everything is made again in the new project
    assert p.action("model.lucy-lora").kind == "create"
    assert plan(d2, observed, pinned(d2), prune=True).action("project").step.old == "delete"


def test_image_deleted_in_the_console_from_a_draft_is_uploaded_again():
    d = desired(models=[])
    ds = d.datasets["lucy"]
    obs_images = remote_images(ds, 1000)
    draft = remote_dataset(ds, status="draft", imgs=obs_images[:2] + obs_images[3:])
    p = plan(d, Observed(project=remote_project(d), datasets=(draft,)), pinned(d))
    assert [a for a, _ in changes_only(p)] == [
        f"dataset.lucy.image[{ds.images[2].key}]",
        "dataset.lucy.captions",
        "dataset.lucy.status",
    ]


def test_resources_the_spec_does_not_own_are_never_touched():
    d = desired()
    observed = converged(d)
    foreign_ds = ObservedDataset(id=77, name="lucy-experiments", status="completed", images_count=9)
    foreign_lookalike = ObservedDataset(id=78, name="lucy-v2", status="draft", images=())
    foreign_model = ObservedModel(id=88, name="hand-made-lora", status="Completed", dataset_id=77)
    observed = replace(
        observed, datasets=observed.datasets + (foreign_ds, foreign_lookalike), models=observed.models + (foreign_model,)
    )
    for prune in (False, True):
        p = plan(d, observed, pinned(d), prune=prune)
        assert changes_only(p) == []
    destroy = plan_destroy(d, observed, pinned(d))
    touched = {getattr(a.step, "dataset_id", None) for a in destroy.changes} | {getattr(a.step, "model_id", None) for a in destroy.changes}
    assert not touched & {77, 78, 88}
    assert destroy.action("project") is None
    assert any("project lucy-brand is kept" in n for n in destroy.notes)


def test_prune_deletes_earlier_versions_and_deleting_trained_ones_needs_approval():
    d0 = desired()
    observed = converged(d0)
    d1 = desired(models=[model(rank=128)])
    kept = plan(d1, observed, pinned(d1))
    assert not [a for a in kept.changes if a.kind == "delete"]
    pruned = plan(d1, observed, pinned(d1), prune=True)
    deletes = [a for a in pruned.changes if a.kind == "delete"]
    assert [a.address for a in deletes] == [f"model.lucy-lora.version[{observed.models[0].name}]"]
    assert deletes[0].approval


def test_pinned_schema_is_set_without_asking_the_service():
    d = desired()
    p = plan(d, Observed(project=remote_project(d)), pinned(d))
    schema = p.action("dataset.lucy.schema")
    assert schema.step.source == "lock"
    assert schema.changes[0].new == SCHEMA


def test_missing_lock_pin_is_taken_from_the_completed_dataset_made_from_the_same_inputs():
    d = desired()
    p = plan(d, converged(d), Lock())
    assert changes_only(p) == [("dataset.lucy.schema", "create")]
    action = p.action("dataset.lucy.schema")
    assert action.step == PinVisualSchema("lucy")


def test_caption_refinement_is_planned_then_pinned_then_a_noop():
    ds = dataset(imgs=images()[:5] + (image("images/pose-06.png", caption_refine=("Fix the hair colour",)),))
    d = desired(datasets=[ds], models=[])
    lock = pinned(d)
    fresh = plan(d, Observed(project=remote_project(d)), lock)
    refine = fresh.action("dataset.lucy.caption[images/pose-06.png]")
    assert refine.step.mode == "refine"
    assert "dataset.lucy.captions" in refine.depends_on
    lock.pin_caption(ds.images[5], ds.visual_schema, '{"hair": "purple"}')
    obs_images = list(remote_images(ds, 500))
    obs_images[5] = replace(obs_images[5], caption='{"hair": "purple"}', caption_source="manual")
    draft = remote_dataset(ds, status="draft", imgs=tuple(obs_images))
    p = plan(d, Observed(project=remote_project(d), datasets=(draft,)), lock)
    assert changes_only(p) == [("dataset.lucy.status", "update")]


def test_manual_caption_edited_in_the_console_is_regenerated():
    d = desired(models=[])
    ds = d.datasets["lucy"]
    obs_images = list(remote_images(ds, 500))
    obs_images[1] = replace(obs_images[1], caption='{"edited": true}', caption_source="manual")
    draft = remote_dataset(ds, status="draft", imgs=tuple(obs_images))
    p = plan(d, Observed(project=remote_project(d), datasets=(draft,)), pinned(d))
    action = p.action(f"dataset.lucy.caption[{ds.images[1].key}]")
    assert action.kind == "update" and action.step.mode == "regenerate"


def test_a_caption_changed_in_the_spec_of_a_completed_dataset_is_not_called_drift():
    manual = image("images/pose-06.png", caption='{"action": "walking"}')
    ds0 = dataset(imgs=images()[:5] + (manual,))
    obs_images = list(remote_images(ds0, 500))
    obs_images[5] = replace(obs_images[5], caption='{"action": "walking"}', caption_source="manual")
    done = remote_dataset(ds0, imgs=tuple(obs_images), listed=True)
    ds1 = dataset(imgs=images()[:5] + (replace(manual, caption='{"action": "running"}'),))
    d1 = desired(datasets=[ds1], models=[])
    p = plan(d1, Observed(project=remote_project(d1), datasets=(done,)), pinned(d1))
    assert isinstance(p.action("dataset.lucy").step, CloneDataset)
    assert p.action("dataset.lucy.caption[images/pose-06.png]").reason == "manual caption from the spec"
    # the next spec drops the caption: the clone gets the automatic one again, and that is no drift either
    d2 = desired(datasets=[dataset(imgs=images()[:5] + (replace(manual, caption=None),))], models=[])
    p2 = plan(d2, Observed(project=remote_project(d2), datasets=(done,)), pinned(d2))
    regenerate = p2.action("dataset.lucy.caption[images/pose-06.png]")
    assert regenerate.step.mode == "regenerate"
    assert regenerate.reason == "the spec no longer sets this caption: the automatic caption is generated again"


def test_a_manual_caption_edited_in_the_console_of_a_draft_is_set_again_as_drift():
    manual = image("images/pose-06.png", caption='{"action": "walking"}')
    ds = dataset(imgs=images()[:5] + (manual,))
    d = desired(datasets=[ds], models=[])
    obs_images = list(remote_images(ds, 500))
    obs_images[5] = replace(obs_images[5], caption='{"edited": "in the console"}', caption_source="manual")
    draft = remote_dataset(ds, status="draft", imgs=tuple(obs_images))
    p = plan(d, Observed(project=remote_project(d), datasets=(draft,)), pinned(d))
    assert p.action("dataset.lucy.caption[images/pose-06.png]").reason == (
        "manual caption from the spec (the dataset's caption was edited: drift)"
    )


def test_a_draft_without_visual_schema_does_not_wait_for_captions_it_cannot_get():
    ds = replace(dataset(), visual_schema=VisualSchemaSpec(), complete=False)
    d = desired(datasets=[ds], models=[])
    p = plan(d, Observed(project=remote_project(d)), Lock())
    assert [a for a, _ in changes_only(p)] == ["dataset.lucy"] + [f"dataset.lucy.image[{i.key}]" for i in ds.images]
    assert "dataset.lucy: no visual_schema in the spec, so its images stay without captions" in " ".join(p.notes)


def test_images_uploaded_before_the_schema_get_all_captions_regenerated():
    d = desired(models=[])
    ds = d.datasets["lucy"]
    bare = tuple(ObservedImage(id=i, image_name=s.remote_name) for i, s in enumerate(ds.images))
    draft = remote_dataset(ds, status="draft", imgs=bare, schema=None)
    p = plan(d, Observed(project=remote_project(d), datasets=(draft,)), pinned(d))
    captions = p.action("dataset.lucy.captions")
    assert captions.kind == "update" and captions.step.TAG == "regenerate_captions"
    assert "dataset.lucy.schema" in captions.depends_on


def test_second_sweep_member_is_not_mistaken_for_an_old_version():
    members = [model("lucy-lora[rank=32]", rank=32), model("lucy-lora[rank=64]", rank=64)]
    d = desired(models=members)
    observed = converged(d)
    p = plan(d, observed, pinned(d), prune=True)
    assert changes_only(p) == []
    d2 = desired(models=[members[0], model("lucy-lora[rank=64]", rank=128)])
    p2 = plan(d2, observed, pinned(d2))
    changed = p2.action("model.lucy-lora[rank=64]")
    assert changed.kind == "replace"
    assert "rank 64 -> 128" in changed.reason
    assert p2.action("model.lucy-lora[rank=32]").kind == "noop"


def _member(rank: int):
    return model(f"lucy-lora[rank={rank}]", rank=rank, sweep=(("rank", rank),))


def test_a_sweep_member_added_is_a_new_model_not_a_new_version_of_a_dropped_member():
    d = desired(models=[_member(16), _member(32)])
    observed = converged(d)
    d2 = desired(models=[_member(32), _member(64)])
    p = plan(d2, observed, pinned(d2))
    assert changes_only(p) == [("model.lucy-lora[rank=64]", "create"), ("model.lucy-lora[rank=64].training", "create")]
    added = p.action("model.lucy-lora[rank=64]")
    assert added.reason == f"new model {d2.models['lucy-lora[rank=64]'].remote_name(d2.datasets['lucy'])} on dataset {observed.datasets[0].name}"
    assert not added.approval
    assert p.action("model.lucy-lora[rank=32]").kind == "noop"
    dropped = observed.models[0].name
    pruned = plan(d2, observed, pinned(d2), prune=True)
    delete = pruned.action(f"model.lucy-lora.version[{dropped}]")
    assert (delete.kind, delete.reason) == ("delete", "an earlier version of the spec's model: --prune deletes it")


def test_sweep_members_on_a_changed_dataset_each_follow_their_own_earlier_version():
    d = desired(models=[_member(16), _member(32)])
    observed = replace(converged(d), datasets=(remote_dataset(d.datasets["lucy"], listed=True),))
    d2 = desired(datasets=[dataset(imgs=images(7))], models=[_member(16), _member(32)])
    p = plan(d2, observed, pinned(d2))
    for rank in (16, 32):
        action = p.action(f"model.lucy-lora[rank={rank}]")
        assert action.kind == "replace"
        old = d.models[f"lucy-lora[rank={rank}]"].remote_name(d.datasets["lucy"])
        assert action.reason.startswith("the dataset changed (") and f"({old} is kept)" in action.reason
        assert "training parameter" not in action.reason


def test_target_limits_the_plan_to_an_address_and_what_it_depends_on():
    d = desired()
    p = plan(d, Observed(), Lock(), targets=["dataset.lucy.schema"])
    assert [a.address for a in p.actions] == ["project", "dataset.lucy", "dataset.lucy.schema"]
    with pytest.raises(PlanError, match="matches nothing"):
        plan(d, Observed(), Lock(), targets=["model.nope"])


def test_destroy_stops_training_first_and_deletes_in_reverse_order():
    d = desired()
    observed = converged(d)
    observed = replace(observed, models=(replace(observed.models[0], status="InProgress"),))
    p = plan_destroy(d, observed, pinned(d))
    kinds = [(a.address.split(".")[0], a.kind) for a in p.changes]
    assert kinds == [("model", "delete"), ("dataset", "delete"), ("project", "delete")]
    model_delete = p.changes[0]
    assert model_delete.step.stop_first and model_delete.approval
    assert p.changes[1].depends_on == (model_delete.address,)


def test_plan_is_the_same_for_the_same_inputs():
    d = desired()
    observed = converged(d)
    d1 = desired(models=[model(rank=128)])
    assert plan(d1, observed, pinned(d1)) == plan(d1, observed, pinned(d1))


def test_a_draft_whose_images_were_not_listed_is_refused_rather_than_uploaded_again():
    d = desired(models=[])
    draft = replace(remote_dataset(d.datasets["lucy"], status="draft"), images=None, images_count=6)
    with pytest.raises(PlanError, match="were not listed"):
        plan(d, Observed(project=remote_project(d), datasets=(draft,)), pinned(d))
