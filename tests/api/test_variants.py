"""Where Bria's public material disagrees with the contract: the client holds up under each
reading, against the real sandbox set to answer that way (POST /_sandbox/variant)."""

from __future__ import annotations

import json
from base64 import b64encode
from typing import Any

import httpx
import pytest

from against_sandbox import SANDBOX_URL, Admin, make_dataset_with_images, make_project, png_bytes
from bria_pipeline.api import JobFailed, NotFound
from bria_pipeline.api.errors import BadRequest

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

STATUS = "GET /v2/status/{request_id}"
DATASETS = "POST /v1/tailored-gen/datasets"
MODELS = "POST /v1/tailored-gen/models"


class Recording(httpx.AsyncBaseTransport):
    """The sandbox's transport, remembering every request's method, path and JSON body."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        return await self.inner.handle_async_request(request)

    def bodies(self, method: str, path: str) -> list[Any]:
        return [b for m, p, b in self.sent if (m, p) == (method, path)]


async def variant(admin: Admin, **fields: Any) -> None:
    (await admin.http.post("/_sandbox/variant", json=fields)).raise_for_status()


async def trained_model(client, admin: Admin, *, name: str = "lucy-brand"):
    project = await make_project(client, name)
    dataset = await make_dataset_with_images(client, project.id, n=5)
    await client.update_dataset(dataset.id, status="Completed")  # the cookbook's spelling
    model = await client.create_model("lucy-lora", dataset.id)
    await client.start_training(model.id)
    trained = await client.wait_for_training(model.id, interval=1, timeout=60)
    return project, await client.get_dataset(dataset.id), trained


@pytest.fixture
def recording(sandbox_app) -> Recording:
    return Recording(httpx.ASGITransport(app=sandbox_app))


async def test_datasets_and_models_are_created_as_fibo_and_the_sandbox_reads_the_field(make_client, recording, admin):
    client = make_client(transport=recording)
    project, dataset, model = await trained_model(client, admin)
    assert [b["training_version"] for b in recording.bodies("POST", "/v1/tailored-gen/datasets")] == ["fibo"]
    assert [b["training_version"] for b in recording.bodies("POST", "/v1/tailored-gen/models")] == ["fibo"]
    assert dataset.training_version == "fibo" and dataset.completed and model.status == "Completed"
    assert (await client.get_project(project.id)).training_version == "fibo"  # locked by its first dataset


async def test_an_api_refusing_training_version_gets_the_request_again_without_it_once(make_client, recording, admin):
    await variant(admin, training_version="refuse_field")
    client = make_client(transport=recording)
    project, dataset, model = await trained_model(client, admin)
    # the first create_dataset was refused (422 naming the field: no side effect) and sent again
    # without it; create_model then left it out from the start
    assert ["training_version" in b for b in recording.bodies("POST", "/v1/tailored-gen/datasets")] == [True, False]
    assert ["training_version" in b for b in recording.bodies("POST", "/v1/tailored-gen/models")] == [False]
    assert client.training_version_refused
    assert [d.name for d in await client.list_project_datasets(project.id)] == [dataset.name]  # made once
    stats = await admin.stats()
    assert stats["routes"][DATASETS] == 2 and stats["statuses"]["422"] == 1 and stats["routes"][MODELS] == 1
    assert model.status == "Completed"


async def test_a_400_about_another_field_is_not_taken_for_a_training_version_refusal(client, admin):
    project = await make_project(client)
    with pytest.raises(BadRequest):
        await client.create_dataset(project.id, "lucy", upload_type="zip")
    assert not client.training_version_refused
    assert (await admin.stats())["routes"][DATASETS] == 1


async def test_the_transitional_api_defaults_to_max_and_refuses_what_legacy_cannot_do(make_client, admin):
    await variant(admin, training_version="transitional")
    client = make_client()
    # sent by bria-pipeline: fibo, and everything works
    _, _, model = await trained_model(client, admin)
    job = await client.generate_image(model.id, prompt="Lucy at the beach")
    assert (await client.wait_for_job(job, interval=0.1)).image_url
    # without the field, as older clients did: a max dataset in an unlocked project, which the
    # transitional docs' rules then refuse
    legacy = await make_project(client, "old-lucy")
    max_dataset = await client.create_dataset(legacy.id, "old", training_version=None)
    assert max_dataset.training_version == "max"
    assert (await client.get_project(legacy.id)).training_version == "max"
    schema = await client.generate_visual_schema([png_bytes(i) for i in range(5)])
    with pytest.raises(BadRequest, match="fibo datasets only"):
        await client.update_dataset(max_dataset.id, visual_schema=schema)
    with pytest.raises(BadRequest, match="locked to training_version 'max'"):
        await client.create_dataset(legacy.id, "new")  # fibo, in a max project


async def test_a_model_trained_on_a_legacy_dataset_cannot_generate_with_v2(make_client, admin):
    client = make_client()
    project, _, model = await trained_model(client, admin)
    (await admin.http.post(f"/_sandbox/projects/{project.id}/training_version",
                           json={"training_version": "max"})).raise_for_status()
    await variant(admin, training_version="transitional")
    assert (await client.list_projects())[0].training_version == "max"
    assert (await client.list_project_datasets(project.id))[0].training_version == "max"
    with pytest.raises(BadRequest, match="fibo models only"):
        await client.generate_image(model.id, prompt="Lucy")
    assert (await admin.stats())["billed"]["total"] == 1  # the training; no generation was accepted


async def test_video_sends_the_model_under_both_names_and_the_sandbox_takes_either(make_client, recording, admin,
                                                                                    sandbox_app):
    client = make_client(transport=recording)
    _, _, model = await trained_model(client, admin)
    job = await client.generate_video(model.id, png_bytes(1, side=256), seed=3)
    [body] = recording.bodies("POST", "/v2/video/generate/tailored/image-to-video")
    assert body["tailored_model_id"] == body["model_id"] == str(model.id)
    assert (await client.wait_for_job(job, interval=0.2)).video_url
    # as other clients send it: only model_id (Bria's SDK), only tailored_model_id (the contract)
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url=SANDBOX_URL,
                            headers={"api_token": "sandbox-token"})
    async with raw:
        picture = b64encode(png_bytes(2, side=256)).decode()
        path = "/v2/video/generate/tailored/image-to-video"
        only_new = await raw.post(path, json={"model_id": str(model.id), "image": picture})
        only_old = await raw.post(path, json={"tailored_model_id": str(model.id), "image": picture})
        both_differ = await raw.post(path, json={"tailored_model_id": str(model.id), "model_id": "1", "image": picture})
    assert (only_new.status_code, only_old.status_code, both_differ.status_code) == (202, 202, 400)


@pytest.mark.parametrize("unknown_polls, completes", [(3, True), (4, False)])
async def test_unknown_is_waited_through_three_times_in_a_row_then_the_job_has_failed(
        make_client, admin, unknown_polls, completes):
    client = make_client()
    _, _, model = await trained_model(client, admin)
    await variant(admin, unknown_polls=unknown_polls)
    job = await client.generate_image(model.id, prompt="Lucy")
    await admin.reset_stats()
    if completes:
        assert (await client.wait_for_job(job, interval=0.5, timeout=600)).image_url
    else:
        with pytest.raises(JobFailed, match="4 UNKNOWN answers in a row") as info:
            await client.wait_for_job(job, interval=0.5, timeout=600)
        assert info.value.job_status == "UNKNOWN" and info.value.request_id == job.request_id
    polls = (await admin.stats())["routes"][STATUS]
    # one IN_PROGRESS answer (generations take 0.2 s), the UNKNOWN ones, and the COMPLETED one
    assert polls == 1 + unknown_polls + (1 if completes else 0)


@pytest.mark.parametrize("word", ["FAILED", "ERROR", "CANCELLED"])
async def test_any_status_but_in_progress_and_completed_ends_the_wait_at_once(make_client, admin, word):
    client = make_client()
    _, _, model = await trained_model(client, admin)
    await variant(admin, job_failure_status=word, job_status_case="title")
    await admin.faults(generation_error_rate=1.0)
    job = await client.generate_image(model.id, prompt="Lucy")
    await admin.reset_stats()
    with pytest.raises(JobFailed) as info:
        await client.wait_for_job(job, interval=0.5, timeout=3600)  # never waits for the timeout
    assert info.value.job_status == word
    assert (await admin.stats())["routes"][STATUS] == 2  # IN_PROGRESS, then the failure


async def test_lower_case_statuses_complete_as_well(make_client, admin):
    client = make_client()
    _, _, model = await trained_model(client, admin)
    await variant(admin, job_status_case="lower")
    job = await client.generate_image(model.id, prompt="Lucy")
    assert (await client.get_status(job.request_id)).status == "IN_PROGRESS"
    assert (await client.wait_for_job(job, interval=0.5)).image_url


async def test_an_expired_result_url_gets_a_fresh_one_from_the_status_service_and_a_gone_job_is_404(
        make_client, admin, manual_clock, sandbox_app):
    client = make_client()
    _, _, model = await trained_model(client, admin)
    job = await client.generate_image(model.id, prompt="Lucy")
    result = await client.wait_for_job(job, interval=0.5)
    assert (await client.fetch_bytes(result.image_url)).startswith(b"\x89PNG")
    (await admin.http.post(f"/_sandbox/requests/{job.request_id}/expire", json={})).raise_for_status()
    with pytest.raises(Exception, match="403"):
        await client.fetch_bytes(result.image_url)
    fresh = await client.get_status(job.request_id)
    assert fresh.result.image_url != result.image_url
    assert (await client.fetch_bytes(fresh.result.image_url)).startswith(b"\x89PNG")
    manual_clock.advance(3 * 24 * 3600)  # results are kept 3 days
    with pytest.raises(NotFound):
        await client.get_status(job.request_id)
    with pytest.raises(Exception, match="403"):
        await client.fetch_bytes(fresh.result.image_url)


@pytest.mark.parametrize("spelled, started", [("created", False), ("Created", False), ("in_progress", True),
                                              ("COMPLETED", True)])
async def test_reading_back_a_lost_start_training_reads_the_model_status_in_any_case(spelled, started):
    """A lost start_training answer is resolved by the model's status: "created" (as uploaded
    models and some answers spell it) means the paid training did not start, so it may be sent."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from bria_pipeline.api import AsyncBriaClient

    async def model(request):
        return JSONResponse({"id": 7, "name": "m", "status": spelled})

    api = Starlette(routes=[Route("/v1/tailored-gen/models/{model_id}", model)])
    async with AsyncBriaClient("http://api.test", token="t", transport=httpx.ASGITransport(app=api)) as client:
        outcome = await client.read_back("start_training", {"model_id": 7})
    assert (outcome.found, outcome.absent) == (started, not started)
