"""Before a dataset is completed (and before a billed training) its images are listed and compared
with the spec's, by content: a dataset changed after the plan was made (an extra image, a missing
one) stops the run before anything is paid, naming the image and what to do; a second copy of a
spec image in a draft is removed instead. The real sandbox in process; the changes are made through
the API, as another runner or a person in the Console would."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from apply_helpers import console, png, sandbox_stats

pytestmark = pytest.mark.timeout(120)

IMAGES = 6


def _dataset(app) -> dict:
    async def read(client):
        [project] = await client.list_projects()
        [dataset] = await client.list_project_datasets(project.id)
        images = await client.list_images(dataset.id)
        return {"id": dataset.id, "status": dataset.status, "images": sorted((i.image_name, i.id) for i in images)}

    return console(app, read)


@pytest.fixture
def draft(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(images=IMAGES, complete=False, models=False)
    result = make_pipeline().apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    spec_dir.write(images=IMAGES)  # complete: true and a model: the plan completes it and trains
    return _dataset(sandbox_app)


def _when(address: str, change):
    """A progress callback that makes `change()` the moment the step at `address` begins (after the
    plan, before the step's own requests), from another thread, as another runner would."""
    done: list = []

    def on_progress(event) -> None:
        if event.kind == "begin" and event.address == address and not done:
            with ThreadPoolExecutor(1) as pool:
                done.append(pool.submit(change).result(timeout=30))

    return on_progress, done


def _step(result, address: str):
    return next(s for s in result.steps if s.address == address)


def _trainings(app) -> int:
    return sandbox_stats(app)["billed"].get("training", 0)


def test_an_image_added_after_the_plan_stops_the_run_before_completion_and_training(draft, make_pipeline, sandbox_app,
                                                                                   spec_dir):
    on_progress, made = _when("dataset.lucy.status", lambda: console(
        sandbox_app, lambda c: c.upload_image(draft["id"], file=png(40), image_name="stray.png")))
    result = make_pipeline().apply(auto_approve=True, on_progress=on_progress)
    [stray] = made
    assert not result.ok
    stopped = _step(result, "dataset.lucy.status")
    assert stopped.status == "failed"
    assert f"stray.png (image id {stray.id})" in stopped.message and "1 not in the spec" in stopped.message
    assert "so the completion did not happen and nothing was billed" in stopped.message
    assert f"hint: apply again: `bria-pipeline apply {spec_dir.spec}` makes a new plan that deletes what is not in the spec" \
        in stopped.message
    assert _step(result, "model.lucy-lora.training").status == "skipped"
    assert _dataset(sandbox_app)["status"] == "draft" and _trainings(sandbox_app) == 0

    # the hint, followed as printed: a new plan deletes the stray image, completes, trains once
    again = make_pipeline()
    replanned = again.plan()
    assert replanned.action("dataset.lucy.image[stray.png]").kind == "delete"
    assert again.apply(replanned, auto_approve=True).ok
    after = _dataset(sandbox_app)
    assert after["status"] == "completed" and len(after["images"]) == IMAGES
    assert "stray.png" not in {name for name, _ in after["images"]} and _trainings(sandbox_app) == 1


def test_an_image_deleted_after_the_plan_stops_the_run_naming_it(draft, make_pipeline, sandbox_app, spec_dir):
    name, image_id = next((n, i) for n, i in draft["images"] if n.startswith("pose-03."))
    on_progress, made = _when("dataset.lucy.status", lambda: console(
        sandbox_app, lambda c: c.delete_image(draft["id"], image_id)))
    result = make_pipeline().apply(auto_approve=True, on_progress=on_progress)
    assert made
    stopped = _step(result, "dataset.lucy.status")
    assert stopped.status == "failed"
    assert f"1 missing: images/pose-03.png (as {name})" in stopped.message
    assert "makes a new plan that uploads the missing images, then completes the dataset" in stopped.message
    assert _trainings(sandbox_app) == 0 and _dataset(sandbox_app)["status"] == "draft"

    again = make_pipeline()
    assert again.apply(auto_approve=True).ok
    after = _dataset(sandbox_app)
    assert after["status"] == "completed" and name in {n for n, _ in after["images"]} and len(after["images"]) == IMAGES
    assert _trainings(sandbox_app) == 1


def test_a_second_copy_in_a_draft_is_removed_and_the_training_sees_each_image_once(draft, make_pipeline, sandbox_app,
                                                                                   spec_dir):
    name, first_id = next((n, i) for n, i in draft["images"] if n.startswith("pose-02."))
    on_progress, made = _when("dataset.lucy.status", lambda: console(sandbox_app, lambda c: c.upload_image(
        draft["id"], file=(spec_dir.images / "pose-02.png").read_bytes(), image_name=name)))
    result = make_pipeline().apply(auto_approve=True, on_progress=on_progress)
    [copy] = made
    assert copy.id > first_id
    assert result.ok, [s for s in result.steps if s.status != "done"]
    assert _step(result, "dataset.lucy.status").message == \
        f"dataset completed ({IMAGES} images, exactly the spec's, 1 second copy removed)"
    after = _dataset(sandbox_app)
    assert (name, first_id) in after["images"] and (name, copy.id) not in after["images"]
    assert len(after["images"]) == IMAGES and _trainings(sandbox_app) == 1


def test_an_image_uploaded_by_another_run_since_the_plan_is_not_uploaded_again(spec_dir, make_pipeline, sandbox_app):
    spec_dir.write(images=IMAGES - 1, complete=False, models=False, captions=False)
    assert make_pipeline().apply(auto_approve=True).ok
    spec_dir.write(images=IMAGES, complete=False, models=False, captions=False)
    draft = _dataset(sandbox_app)
    image = spec_dir.images / "pose-06.png"
    uploads = "POST /v1/tailored-gen/datasets/{dataset_id}/images"

    def other_runner():  # uploads it under the name it is planned under, a moment before this run
        name = f"pose-06.{hashlib.sha256(image.read_bytes()).hexdigest()[:12]}.png"
        return console(sandbox_app, lambda c: c.upload_image(draft["id"], file=image.read_bytes(), image_name=name))

    on_progress, made = _when("dataset.lucy.image[images/pose-06.png]", other_runner)
    before = sandbox_stats(sandbox_app)["routes"][uploads]
    result = make_pipeline().apply(auto_approve=True, on_progress=on_progress)
    assert made
    assert result.ok, [s for s in result.steps if s.status != "done"]
    assert sandbox_stats(sandbox_app)["routes"][uploads] == before + 1  # the other runner's, only
    assert "uploaded by another run since the plan was made" in _step(result, "dataset.lucy.image[images/pose-06.png]").message
    assert len(_dataset(sandbox_app)["images"]) == IMAGES


def _completed_by_hand_with_other_images(app, draft: dict, spec_dir) -> tuple[str, str]:
    """In the Console: pose-06 deleted, a second copy of pose-01 uploaded (same count), completed.
    Returns the remote names of pose-01 and pose-06."""
    names = dict(draft["images"])
    pose01 = next(n for n in names if n.startswith("pose-01."))
    pose06 = next(n for n in names if n.startswith("pose-06."))

    async def by_hand(client):
        await client.delete_image(draft["id"], names[pose06])
        await client.upload_image(draft["id"], file=(spec_dir.images / "pose-01.png").read_bytes(), image_name=pose01)
        await client.update_dataset(draft["id"], status="completed")

    console(app, by_hand)
    return pose01, pose06


def test_a_dataset_completed_by_hand_with_the_wrong_images_is_never_trained_on(draft, make_pipeline, sandbox_app,
                                                                               spec_dir):
    """Same count, other content (pose-06 deleted, a second copy of pose-01 added, then completed in
    the Console): the plan lists a completed version before a training on it, so it makes a new
    revision with exactly the spec's images and trains on that."""
    pose01, pose06 = _completed_by_hand_with_other_images(sandbox_app, draft, spec_dir)
    pipeline = make_pipeline()
    plan = pipeline.plan()
    assert "it holds other images than the spec (1 missing, 1 extra)" in plan.action("dataset.lucy").reason
    result = pipeline.apply(plan, auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    assert _trainings(sandbox_app) == 1

    async def trained_on(client):
        [project] = await client.list_projects()
        [model] = await client.list_project_models(project.id)
        return model.dataset_id, sorted(i.image_name for i in await client.list_images(model.dataset_id))

    dataset_id, images = console(sandbox_app, trained_on)
    assert dataset_id != draft["id"] and len(images) == len(set(images)) == IMAGES and pose06 in images


def test_a_training_on_a_completed_dataset_holding_the_wrong_images_is_refused_before_it_is_paid(
        draft, make_pipeline, sandbox_app, spec_dir, monkeypatch):
    """The second line, behind the plan's own comparison (switched off here, as a plan made from an
    observation that only counted the images would be): the training's own check lists the
    dataset and refuses before the billed request. The hint, followed, trains on a new revision."""
    from bria_pipeline.state import observe

    pose01, pose06 = _completed_by_hand_with_other_images(sandbox_app, draft, spec_dir)
    monkeypatch.setattr(observe, "_trains_on", lambda *args: False)
    result = make_pipeline().apply(auto_approve=True)
    stopped = _step(result, "model.lucy-lora.training")
    assert stopped.status == "failed"
    assert (f"dataset 'lucy' (id {draft['id']}) does not hold exactly the spec's images, so the training of model "
            in stopped.message)
    assert "did not happen and nothing was billed" in stopped.message and f"{pose01} (image id" in stopped.message
    assert f"1 missing: images/pose-06.png (as {pose06})" in stopped.message
    assert f"hint: completed datasets are frozen: `bria-pipeline apply {spec_dir.spec}` makes a new revision" \
        in stopped.message
    assert _trainings(sandbox_app) == 0

    monkeypatch.undo()  # the hint, followed as printed
    again = make_pipeline()
    plan = again.plan()
    assert "it holds other images than the spec (1 missing, 1 extra)" in plan.action("dataset.lucy").reason
    assert again.apply(plan, auto_approve=True).ok
    assert _trainings(sandbox_app) == 1
