"""State survives a restart (same database file, new app), and concurrent requests are safe."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
from sandbox_api import TG, TOKEN, Api, png_bytes

from bria_pipeline.sandbox import ManualClock, create_app


def test_everything_survives_a_restart_on_the_same_database(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    clock = ManualClock()
    first_app = create_app(db, clock=clock)
    first = Api(first_app)
    model = first.trained_model(params={"total_training_steps": 1000, "checkpoint_interval": 500})
    image = first.get(f"{TG}/datasets/{model['dataset_id']}/images").json()[0]
    submitted = first.post("/v2/image/generate/tailored", json={"tailored_model_id": str(model["id"]), "prompt": "x"})
    first.close()
    first_app.state.sandbox.close()

    second_app = create_app(db, clock=clock)
    second = Api(second_app)
    try:
        assert second.get(f"{TG}/models/{model['id']}").json()["checkpoint_steps"] == ["1000", "500"]
        assert second.get(f"{TG}/datasets/{model['dataset_id']}").json()["status"] == "completed"
        assert second.get(image["image_url"], token=None).status_code == 200
        second.advance(1)
        assert second.get(f"/v2/status/{submitted.json()['request_id']}").json()["status"] == "COMPLETED"
        assert second.as_token("other").get(f"{TG}/projects").json() == []
        project = second.project()
        assert project["id"] > model["project_id"]  # ids keep growing, never reused
    finally:
        second.close()
        second_app.state.sandbox.close()
    assert (tmp_path / "sandbox.db.files").is_dir()


def test_a_training_keeps_progressing_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    clock = ManualClock()
    app = create_app(db, clock=clock)
    api = Api(app)
    _, dataset = api.completed_dataset()
    model = api.post(f"{TG}/models", json={"name": "m", "dataset_id": dataset["id"], "training_mode": "expert"}).json()
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    api.close()
    app.state.sandbox.close()
    clock.advance(5)
    app = create_app(db, clock=clock)
    api = Api(app)
    try:
        assert api.get(f"{TG}/models/{model['id']}").json()["status"] == "Completed"
    finally:
        api.close()
        app.state.sandbox.close()


def test_concurrent_creates_in_one_event_loop_all_land_with_distinct_ids(app) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s",
                                     headers={"api_token": TOKEN}) as client:
            body = {"project_name": "p", "ip_type": "other", "ip_medium": "photography"}
            return await asyncio.gather(*(client.post(f"{TG}/projects", json=body) for _ in range(50)))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [201] * 50
    assert len({r.json()["id"] for r in responses}) == 50


def test_concurrent_uploads_from_threads_never_exceed_the_image_cap(app) -> None:
    setup = Api(app)
    dataset = setup.dataset(setup.project()["id"])
    data = png_bytes((1024, 1024), (3, 3, 3))
    for _ in range(190):
        assert setup.upload(dataset["id"], data).status_code == 201
    setup.close()
    codes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = Api(app)
        try:
            for _ in range(4):
                code = client.upload(dataset["id"], data).status_code
                with lock:
                    codes.append(code)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes.count(201) == 10 and codes.count(409) == 14
    check = Api(app)
    try:
        assert len(check.get(f"{TG}/datasets/{dataset['id']}/images").json()) == 200
    finally:
        check.close()
