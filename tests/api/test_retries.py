"""Retries and read-back, proven against the sandbox's fault injection.

Reads are retried; creating POSTs are read back after an ambiguous failure and never duplicated;
generations whose answer was lost are never sent twice; a quota stops everything.
"""

from __future__ import annotations

import pytest

from bria_pipeline.api import (
    AmbiguousResult,
    AsyncBriaClient,
    ForbiddenError,
    QuotaExceeded,
    RetryPolicy,
    ServerError,
    TransportError,
)
from bria_pipeline.sandbox import create_app, running

from against_sandbox import make_dataset_with_images, make_project, png_bytes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_reads_succeed_while_the_server_fails_half_of_all_requests(client, admin):
    await admin.faults(seed=3, error_rate=0.5)
    for _ in range(10):
        assert await client.list_projects() == []
    server = await admin.stats()
    assert client.stats.retries > 0 and server["statuses"]["500"] == client.stats.retries
    assert server["total"] == client.stats.total == 10 + client.stats.retries


async def test_retrying_stops_after_the_allowed_attempts(make_client, admin):
    client = make_client(retry=RetryPolicy(max_attempts=3, base_delay=0.01))
    await admin.faults(error_rate=1.0)
    with pytest.raises(ServerError) as info:
        await client.list_projects()
    assert info.value.status == 500 and info.value.operation == "list_projects"
    assert await admin.route_count("GET /v1/tailored-gen/projects") == 3


async def test_retrying_stops_when_the_total_time_budget_is_spent(make_client, admin, manual_clock):
    client = make_client(retry=RetryPolicy(max_attempts=100, max_elapsed=1.0, base_delay=0.3, jitter=0))
    await admin.faults(error_rate=1.0)
    with pytest.raises(ServerError):
        await client.list_projects()
    # waits 0.3 and 0.6 fit in one second; the next (1.2) would not
    assert await admin.route_count("GET /v1/tailored-gen/projects") == 3
    assert client.session.clock.slept == pytest.approx(0.9)


async def test_a_429_is_waited_out_for_as_long_as_retry_after_says(client, admin):
    await admin.faults(rate_limit_per_minute=2)
    for _ in range(4):
        await client.list_projects()
    assert client.stats.rate_limited >= 1
    assert client.session.clock.slept >= 60  # the sandbox's Retry-After, in its own clock
    assert (await admin.stats())["statuses"]["429"] == client.stats.rate_limited


async def test_a_429_on_a_creating_post_is_definite_and_retried_without_read_back(client, admin):
    await admin.faults(rate_limit_per_minute=1)
    await make_project(client, "one")
    await make_project(client, "two")
    assert sorted(p.name for p in await client.list_projects()) == ["one", "two"]
    assert client.stats.rate_limited >= 1 and client.stats.readbacks == 0


async def test_quota_exceeded_is_never_retried_and_stops_every_later_request(client, admin):
    await admin.faults(quota=3)
    for _ in range(3):
        await client.list_projects()
    with pytest.raises(QuotaExceeded) as info:
        await client.list_projects()
    assert isinstance(info.value, ForbiddenError) and info.value.status == 403
    assert "quota" in info.value.describe().lower()
    assert (await admin.stats())["total"] == 4
    with pytest.raises(QuotaExceeded):
        await make_project(client)
    assert (await admin.stats())["total"] == 4, "nothing more may leave once the quota is exceeded"
    assert client.stats.retries == 0


# ---------------------------------------------------------------- response lost after commit


async def _project(client):
    return await make_project(client)


async def _draft(client):
    project = await make_project(client)
    return project, await make_dataset_with_images(client, project.id, n=5)


async def _completed(client):
    project, dataset = await _draft(client)
    await client.update_dataset(dataset.id, status="completed")
    return project, dataset


async def lose_create_project(client, admin):
    await make_project(client, "lucy-brand")
    return [p for p in await client.list_projects() if p.name == "lucy-brand"]


async def lose_create_dataset(client, admin, project):
    made = await client.create_dataset(project.id, "lucy-v1")
    return [d for d in await client.list_project_datasets(project.id) if d.name == made.name]


async def lose_clone_dataset(client, admin, project, dataset):
    clone = await client.clone_dataset(dataset.id, name="lucy-v2")
    assert clone.images_count == dataset.images_count
    return [d for d in await client.list_project_datasets(project.id) if d.name == "lucy-v2"]


async def lose_upload_image(client, admin, project, dataset):
    image = await client.upload_image(dataset.id, file=png_bytes(42), image_name="extra.png")
    assert image.image_name == "extra.png"
    return [i for i in await client.list_images(dataset.id) if i.image_name == "extra.png"]


async def lose_create_model(client, admin, project, dataset):
    model = await client.create_model("lucy-lora", dataset.id)
    assert model.status == "Created"
    return [m for m in await client.list_models() if m.name == "lucy-lora"]


async def lose_start_training(client, admin, project, dataset):
    model = await client.create_model("lucy-lora", dataset.id)
    await admin.faults(lose_response_rate=1.0, lose_response_routes=[ROUTES["start_training"]],
                       lose_mode=admin.lose_mode)
    started = await client.start_training(model.id)
    assert started.status == "InProgress"
    return [m for m in await client.list_models() if m.status != "Created"]


async def lose_stop_training(client, admin, project, dataset):
    model = await client.create_model("lucy-lora", dataset.id)
    await client.start_training(model.id)
    await admin.faults(lose_response_rate=1.0, lose_response_routes=[ROUTES["stop_training"]],
                       lose_mode=admin.lose_mode)
    await client.stop_training(model.id)
    return [m for m in await client.list_models() if m.status in ("Stopping", "Stopped")]


async def lose_bulk_upload(client, admin, project):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(5):
            zf.writestr(f"b-{i}.png", png_bytes(200 + i))
    url = await admin.stage("b.zip", buf.getvalue())
    await admin.faults()
    dataset = await client.create_dataset(project.id, "bulk", upload_type="advanced")
    await admin.faults(lose_response_rate=1.0, lose_response_routes=[ROUTES["bulk_upload"]],
                       lose_mode=admin.lose_mode)
    await client.bulk_upload(dataset.id, url)
    return [await client.bulk_upload_status(dataset.id)]


async def lose_upload_model(client, admin, project):
    await client.upload_model("https://models.example/lucy.safetensors", model_name="imported",
                              project_id=project.id)
    return [m for m in await client.list_models() if m.name == "imported"]


ROUTES = {
    "create_project": "POST /v1/tailored-gen/projects",
    "create_dataset": "POST /v1/tailored-gen/datasets",
    "clone_dataset": "POST /v1/tailored-gen/datasets/{dataset_id}/clone",
    "upload_image": "POST /v1/tailored-gen/datasets/{dataset_id}/images",
    "create_model": "POST /v1/tailored-gen/models",
    "start_training": "POST /v1/tailored-gen/models/{model_id}/start_training",
    "stop_training": "POST /v1/tailored-gen/models/{model_id}/stop_training",
    "bulk_upload": "POST /v1/tailored-gen/datasets/{dataset_id}/images/bulk-upload",
    "upload_model": "POST /v1/tailored-gen/models/upload_model",
}

# operation -> (set-up, the call under a lost response, whether the set-up arms the fault itself)
CASES = {
    "create_project": (None, lose_create_project, False),
    "create_dataset": (_project, lose_create_dataset, False),
    "clone_dataset": (_draft, lose_clone_dataset, False),
    "upload_image": (_draft, lose_upload_image, False),
    "create_model": (_completed, lose_create_model, False),
    "start_training": (_completed, lose_start_training, True),
    "stop_training": (_completed, lose_stop_training, True),
    "bulk_upload": (_project, lose_bulk_upload, True),
    "upload_model": (_project, lose_upload_model, False),
}


@pytest.mark.parametrize("lose_mode", ["drop", "502"])
@pytest.mark.parametrize("operation", sorted(CASES))
async def test_a_creating_post_whose_answer_is_lost_is_adopted_by_read_back_and_exists_once(
    client, admin, operation, lose_mode
):
    setup, act, arms_itself = CASES[operation]
    made = await setup(client) if setup else ()
    made = made if isinstance(made, tuple) else (made,)
    admin.lose_mode = lose_mode
    if not arms_itself:
        await admin.faults(lose_response_rate=1.0, lose_response_routes=[ROUTES[operation]], lose_mode=lose_mode)
    before = await admin.route_count(ROUTES[operation])

    found = await act(client, admin, *made)

    await admin.faults()
    assert len(found) == 1, f"{operation} must leave exactly one resource, found {found}"
    assert await admin.route_count(ROUTES[operation]) == before + 1, "the POST was sent once"
    assert client.stats.readbacks == 1 and client.stats.adopted == 1


async def test_a_create_refused_with_500_is_sent_again_once_the_read_back_shows_nothing_exists(make_client, admin):
    client = make_client(retry=RetryPolicy(max_attempts=10, base_delay=0.01))
    await admin.faults(seed=11, error_rate=0.3)
    names = [f"p-{i}" for i in range(8)]
    for name in names:
        await make_project(client, name)
    await admin.faults()
    assert sorted(p.name for p in await client.list_projects()) == names
    assert client.stats.readbacks > 0 and client.stats.adopted == 0


async def test_a_generation_whose_answer_is_lost_raises_ambiguous_and_is_never_sent_twice(client, admin):
    _, dataset = await _completed(client)
    model = await client.create_model("m", dataset.id)
    await client.start_training(model.id)
    await client.wait_for_training(model.id, interval=1, timeout=60)
    for lose_mode in ("drop", "502"):
        await admin.faults(lose_response_rate=1.0, lose_response_routes=["POST /v2/image/generate/tailored"],
                           lose_mode=lose_mode)
        before = await admin.route_count("POST /v2/image/generate/tailored")
        with pytest.raises(AmbiguousResult) as info:
            await client.generate_image(model.id, prompt="Lucy at the beach", seed=1)
        assert info.value.operation == "generate_image" and "pay" in info.value.describe()
        assert await admin.route_count("POST /v2/image/generate/tailored") == before + 1
    assert client.stats.readbacks == 0


async def test_a_lost_create_is_ambiguous_when_several_resources_share_its_name(client, admin):
    await make_project(client, "twin")
    await make_project(client, "twin")
    await admin.faults(lose_response_rate=1.0, lose_response_routes=["POST /v1/tailored-gen/projects"])
    with pytest.raises(AmbiguousResult) as info:
        await make_project(client, "twin")
    assert len(info.value.candidates) == 3
    assert await admin.route_count("POST /v1/tailored-gen/projects") == 3


async def test_a_lost_image_upload_without_a_name_to_read_back_by_is_ambiguous(client, admin):
    _, dataset = await _draft(client)
    await admin.faults(lose_response_rate=1.0, lose_response_routes=[ROUTES["upload_image"]])
    with pytest.raises(AmbiguousResult, match="image_name"):
        await client.upload_image(dataset.id, file=png_bytes(77))
    assert await admin.route_count(ROUTES["upload_image"]) == 6


async def test_a_refused_connection_is_retried_even_for_a_creating_post_because_nothing_was_sent():
    with running(create_app()) as base_url:
        pass  # the port is closed again: every connection is refused
    async with AsyncBriaClient(base_url, sandbox=True, retry=RetryPolicy(max_attempts=3, base_delay=0.01)) as client:
        with pytest.raises(TransportError):
            await make_project(client)
        assert client.stats.total == 3 and client.stats.retries == 2 and client.stats.readbacks == 0


async def test_timeouts_on_reads_are_retried_then_raised_as_transport_errors():
    with running(create_app()) as base_url:
        async with AsyncBriaClient(base_url, sandbox=True, timeout=0.1,
                                   retry=RetryPolicy(max_attempts=3, base_delay=0.01)) as client:
            import httpx

            async with httpx.AsyncClient(base_url=base_url) as http:
                (await http.post("/_sandbox/faults", json={"latency_ms": 400})).raise_for_status()
                with pytest.raises(TransportError, match="timed out"):
                    await client.list_projects()
                (await http.post("/_sandbox/faults", json={})).raise_for_status()
                stats = (await http.get("/_sandbox/stats")).json()
        assert stats["routes"]["GET /v1/tailored-gen/projects"] == 3
        assert client.stats.retries == 2


async def test_read_back_answers_whether_an_earlier_create_took_effect(client):
    project = await make_project(client, "lucy-brand")
    found = await client.read_back("create_project", json={"project_name": "lucy-brand"})
    assert found.found and found.body["id"] == project.id
    absent = await client.read_back("create_dataset", json={"project_id": project.id, "name": "never-made"})
    assert absent.absent and not absent.found
    with pytest.raises(ValueError):
        await client.read_back("generate_image", json={"prompt": "x"})
