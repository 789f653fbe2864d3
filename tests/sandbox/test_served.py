"""The sandbox served over HTTP by uvicorn on 127.0.0.1: plain httpx, a dropped connection after
commit, Bria's own Python SDK unchanged, and `bria-pipeline sandbox serve`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from sandbox_api import TG, TOKEN, Api

from bria_pipeline.sandbox import ManualClock, create_app, running

PROJECT = {"project_name": "p", "ip_type": "other", "ip_medium": "photography"}


@pytest.fixture
def served():
    clock = ManualClock()
    app = create_app(clock=clock)
    with running(app) as base_url:
        yield app, base_url
    app.state.sandbox.close()


def test_running_serves_the_api_on_a_free_local_port(served) -> None:
    _, base_url = served
    assert base_url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=base_url, headers={"api_token": TOKEN}, timeout=10) as client:
        created = client.post(f"{TG}/projects", json=PROJECT)
        assert created.status_code == 201
        assert client.get(f"{TG}/projects/{created.json()['id']}").json()["project_name"] == "p"
        assert client.get("/_sandbox/health").json()["ok"] is True


def test_dropped_response_closes_the_connection_after_the_change_is_committed(served) -> None:
    app, base_url = served
    with httpx.Client(base_url=base_url, headers={"api_token": TOKEN}, timeout=10) as client:
        client.post("/_sandbox/faults", json={"lose_response_rate": 1.0, "lose_mode": "drop"})
        with pytest.raises(httpx.TransportError):
            client.post(f"{TG}/projects", json=PROJECT)
        client.post("/_sandbox/faults", json={})
        assert len(client.get(f"{TG}/projects").json()) == 1


def test_status_urls_point_at_the_served_address(served) -> None:
    app, base_url = served
    local = Api(app)
    try:
        model = local.trained_model()
    finally:
        local.close()
    with httpx.Client(base_url=base_url, headers={"api_token": TOKEN}, timeout=10) as client:
        submitted = client.post("/v2/image/generate/tailored",
                                json={"tailored_model_id": str(model["id"]), "prompt": "Lucy"}).json()
        assert submitted["status_url"] == f"{base_url}/v2/status/{submitted['request_id']}"
        client.post("/_sandbox/clock/advance", json={"seconds": 1})
        image_url = client.get(submitted["status_url"]).json()["result"]["image_url"]
        assert image_url.startswith(base_url) and client.get(image_url).status_code == 200


def test_bria_sdk_run_submit_and_poll_work_unchanged_against_the_sandbox() -> None:
    bria_client = pytest.importorskip("bria_client")
    app = create_app(training_seconds=0.2)  # wall clock: async jobs finish after 0.2 s, polled for real
    local = Api(app)
    _, dataset = local.completed_dataset()
    model = local.post(f"{TG}/models", json={"name": "m", "dataset_id": dataset["id"]}).json()
    local.post(f"{TG}/models/{model['id']}/start_training", json={})
    deadline = time.monotonic() + 10
    while local.get(f"{TG}/models/{model['id']}").json()["status"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    local.close()
    with running(app) as base_url:
        sdk = bria_client.BriaSyncClient(base_url=base_url, api_token=TOKEN)
        try:
            payload = {"tailored_model_id": str(model["id"]), "prompt": "Lucy at the beach"}
            ran = sdk.run("image/generate/tailored", payload, raise_for_status=True)
            assert ran.status == "COMPLETED"
            assert httpx.get(ran.result.image_url).content.startswith(b"\x89PNG")
            submitted = sdk.submit("image/generate/tailored", payload, raise_for_status=True)
            assert submitted.status == "IN_PROGRESS" and submitted.status_url.startswith(base_url)
            polled = sdk.poll(submitted, interval=0.05, timeout=10)
            assert polled.status == "COMPLETED"  # the same file, under a freshly signed URL
            assert polled.result.image_url.split("?")[0] == ran.result.image_url.split("?")[0]
            structured = sdk.run("v2/structured_prompt/generate/tailored", {**payload, "seed": 1})
            assert "short_description" in structured.result.structured_prompt
            refused = sdk.run("image/generate/tailored", {"tailored_model_id": "1", "prompt": "x"})
            assert refused.status == "ERROR" and refused.error.code == 403
        finally:
            sdk.close()
    app.state.sandbox.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serve_answers_plain_http_and_persists_to_its_database(tmp_path) -> None:
    port = _free_port()
    db = tmp_path / "served.db"
    command = [sys.executable, "-m", "bria_pipeline", "sandbox", "serve", "--port", str(port), "--db", str(db),
               "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                created = httpx.post(f"http://127.0.0.1:{port}{TG}/projects", json=PROJECT,
                                     headers={"api_token": TOKEN}, timeout=5)
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert created.status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=10)
    app = create_app(db)
    try:
        again = Api(app)
        assert [p["project_name"] for p in again.get(f"{TG}/projects").json()] == ["p"]
        again.close()
    finally:
        app.state.sandbox.close()
