"""Every operation of the contract, round-tripped through the real sandbox: in-process and served."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest

from bria_pipeline.api import (
    AsyncBriaClient,
    AsyncJob,
    BadRequest,
    Conflict,
    GenerationResult,
    NotFound,
    PreconditionFailed,
    TrainingParameters,
)
from bria_pipeline.api.operations import OPERATIONS
from bria_pipeline.sandbox import create_app, running

from against_sandbox import FAST_RETRY, SANDBOX_URL, DrivenClock, make_dataset_with_images, make_project, png_bytes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def lifecycle(client: AsyncBriaClient, stage_zip) -> None:
    """Drive every operation once, checking each answer against what was asked."""
    # projects
    project = await make_project(client)
    assert project.name == "lucy-brand" and project.ip_type == "defined_character"
    assert [p.id for p in await client.list_projects()] == [project.id]
    assert (await client.get_project(project.id)).ip_name == "Lucy"
    updated = await client.update_project(project.id, ip_description="a girl with violet hair")
    assert updated.ip_description == "a girl with violet hair"

    # datasets, images, schema, captions
    dataset = await make_dataset_with_images(client, project.id, n=6)
    assert dataset.images_count == 6 and dataset.visual_schema
    assert [d.id for d in await client.list_datasets()] == [dataset.id]
    assert [d.name for d in await client.list_project_datasets(project.id)] == ["lucy-v1"]
    images = await client.list_images(dataset.id)
    assert sorted(i.image_name for i in images) == [f"img-{i}.png" for i in range(6)]
    first = await client.get_image(dataset.id, images[0].id)
    assert first.image_name == images[0].image_name and first.caption
    caption = json.dumps({"subject": "Lucy standing"})
    assert (await client.update_image_caption(dataset.id, first.id, caption=caption)).caption_source == "manual"
    regenerated = await client.update_image_caption(dataset.id, first.id, regenerate_caption=True)
    assert regenerated.caption_source == "automatic"
    await client.delete_image(dataset.id, images[-1].id)
    refined = await client.refine_structured_prompt(dataset.id, dataset.visual_schema,
                                                    "The character's name is Lucy")
    assert json.loads(refined)
    await client.update_dataset(dataset.id, visual_schema=refined)
    started = await client.regenerate_all_captions(dataset.id)
    assert started.captions_update_status in ("in_progress", "completed")
    progress: list[tuple] = []
    captioned = await client.wait_for_captions(dataset.id, interval=0.1, timeout=60,
                                               on_progress=lambda *p: progress.append(p))
    assert captioned.captions_update_status == "completed" and progress[-1][:2] == (5, 5)
    clone = await client.clone_dataset(dataset.id, name="lucy-v2")
    assert clone.name == "lucy-v2" and clone.status == "draft" and clone.id != dataset.id
    completed = await client.update_dataset(dataset.id, status="completed")
    assert completed.completed

    # models, training, checkpoints
    model = await client.create_model("lucy-lora", dataset.id, training_mode="expert")
    assert model.status == "Created" and model.dataset_id == dataset.id
    params = TrainingParameters(rank=16, total_training_steps=200, checkpoint_interval=100)
    training = await client.start_training(model.id, params)
    assert training.status == "InProgress" and training.training_parameters.rank == 16
    seen: list[tuple] = []
    trained = await client.wait_for_training(model.id, interval=0.5, timeout=60,
                                             on_progress=lambda *p: seen.append(p))
    assert trained.status == "Completed" and seen[-1][:2] == (200, 200)
    assert [m.id for m in await client.list_models(include_training_parameters=True)] == [model.id]
    assert [m.name for m in await client.list_project_models(project.id)] == ["lucy-lora"]
    assert (await client.update_model(model.id, description="v1")).description == "v1"
    checkpoints = await client.list_checkpoints(model.id)
    assert [c.checkpoint_step for c in checkpoints.checkpoints] == [100, 200]
    assert (await client.get_checkpoint(model.id, 100)).checkpoint_step == 100
    await client.delete_checkpoint(model.id, 100)
    assert [c.checkpoint_step for c in (await client.list_checkpoints(model.id)).checkpoints] == [200]
    download = await client.download_model(model.id)
    assert download.download_url and await client.fetch_bytes(download.download_url)

    # generation (v2) and the status service
    job = await client.generate_image(model.id, prompt="Lucy at the beach", seed=7)
    assert isinstance(job, AsyncJob) and job.status_url
    result = await client.wait_for_job(job, interval=0.1, timeout=30)
    assert result.image_url and result.seed == 7 and result.structured_prompt
    assert (await client.fetch_bytes(result.image_url)).startswith(b"\x89PNG")
    status = await client.get_status(job.request_id)
    # the same file; result URLs are signed afresh on every answer
    assert status.status == "COMPLETED" and status.result.image_url.split("?")[0] == result.image_url.split("?")[0]
    direct = await client.generate_image(model.id, prompt="Lucy in the city", seed=8, sync=True)
    assert isinstance(direct, GenerationResult) and direct.image_url
    prompt_job = await client.generate_structured_prompt(model.id, prompt="Lucy reading")
    prompt = await client.wait_for_job(prompt_job.request_id, interval=0.1, timeout=30)
    assert json.loads(prompt.structured_prompt)
    video_job = await client.generate_video(model.id, result.image_url, seed=3)
    video = await client.wait_for_job(video_job, interval=0.1, timeout=30)
    assert video.video_url and await client.fetch_bytes(video.video_url)

    # a second model, stopped mid-training
    other = await client.create_model("lucy-lora-b", dataset.id)
    await client.start_training(other.id)
    await client.stop_training(other.id)
    assert (await client.get_model(other.id)).status in ("Stopping", "Stopped")
    await client.session.clock.sleep(5)  # the sandbox's clock: stopping takes a moment
    assert (await client.get_model(other.id)).status == "Stopped"

    # advanced dataset: the one bulk upload, its status, the download
    bulk = await client.create_dataset(project.id, "lucy-bulk", upload_type="advanced")
    zip_url = await stage_zip("lucy.zip", _zip_of(5))
    await client.bulk_upload(bulk.id, zip_url)
    final = await client.wait_for_bulk_upload(bulk.id, interval=0.1, timeout=60)
    assert final.status == "completed" and final.done == 5
    assert (await client.bulk_upload_status(bulk.id)).status == "completed"
    assert (await client.download_dataset(bulk.id)).download_url

    # an uploaded model
    uploaded = await client.upload_model(f"{zip_url.rsplit('/', 1)[0]}/lucy.safetensors",
                                         model_name="imported", project_id=project.id)
    assert uploaded.name == "imported"

    # deletes
    await client.delete_model(uploaded.id)
    await client.delete_dataset(clone.id)
    with pytest.raises(NotFound):
        await client.get_dataset(clone.id)
    await client.delete_model(other.id)
    await client.delete_model(model.id)
    await client.delete_project(project.id)
    assert await client.list_projects() == []


def _zip_of(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"bulk-{i}.png", png_bytes(100 + i))
    return buf.getvalue()


async def test_every_operation_round_trips_through_the_in_process_sandbox(client, admin):
    await lifecycle(client, admin.stage)
    used = set(client.stats.by_operation)
    assert {op.name for op in OPERATIONS} <= used | set(), sorted({op.name for op in OPERATIONS} - used)
    server = await admin.stats()
    assert server["total"] == client.stats.total - client.stats.by_operation["fetch_url"]
    assert client.stats.retries == 0 and client.stats.readbacks == 0


async def test_every_operation_round_trips_through_a_served_sandbox(manual_clock):
    with running(create_app(clock=manual_clock, training_seconds=3.0)) as base_url:
        async with AsyncBriaClient(base_url, sandbox=True, retry=FAST_RETRY, clock=DrivenClock(manual_clock)) as client, \
                httpx.AsyncClient(base_url=base_url) as http:

            async def stage(name: str, data: bytes) -> str:
                (await http.put(f"/_sandbox/staging/{name}", content=data)).raise_for_status()
                return f"{base_url}/_sandbox/staging/{name}"

            await lifecycle(client, stage)
            assert client.stats.errors == 1  # the 404 the lifecycle asks for after deleting the clone


async def test_contract_rules_come_back_as_typed_errors_with_operation_and_hint(client):
    project = await make_project(client)
    dataset = await make_dataset_with_images(client, project.id, n=5)
    model = await client.create_model("m", dataset.id)
    with pytest.raises(PreconditionFailed) as precondition:
        await client.start_training(model.id)  # the dataset is still a draft
    assert precondition.value.status == 412 and precondition.value.operation == "start_training"
    assert "completed" in precondition.value.describe()
    await client.update_dataset(dataset.id, status="completed")
    with pytest.raises(Conflict) as frozen:
        await client.upload_image(dataset.id, file=png_bytes(9), image_name="late.png")
    assert frozen.value.status == 409 and frozen.value.hint
    with pytest.raises(NotFound) as missing:
        await client.get_project(999999)
    assert missing.value.path == "/v1/tailored-gen/projects/999999"
    with pytest.raises(BadRequest) as bad:
        await client.create_dataset(project.id, "")
    assert bad.value.bria_message
    assert client.stats.retries == 0 and client.stats.readbacks == 0


async def test_sync_facade_runs_the_same_client_on_its_own_loop(sandbox_app):
    from bria_pipeline.api import BriaClient

    def blocking() -> None:
        with BriaClient(SANDBOX_URL, sandbox=True, transport=httpx.ASGITransport(app=sandbox_app)) as bria:
            project = bria.create_project("sync-one", ip_medium="photography", ip_type="stylized_scene")
            assert [p.name for p in bria.list_projects()] == ["sync-one"]
            assert bria.get_project(project.id).id == project.id
            assert bria.stats.total == 3 and bria.stats.mutating == 1

    import anyio.to_thread

    await anyio.to_thread.run_sync(blocking)
