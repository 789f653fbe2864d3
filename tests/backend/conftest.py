"""Fixtures of the backend tests: an S3 server (moto's server mode) on 127.0.0.1, a served sandbox,
and the environment a CI runner would have (credentials and endpoint only in AWS_* variables)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import httpx
import pytest

from bria_pipeline.sandbox import create_app, running
from bria_pipeline.sandbox.context import Timings

STARTUP_SECONDS = 15.0


class S3Server:
    """moto's S3 in server mode, in a thread; `stop()` and `start()` again on the same port keep
    its buckets (they live in this process)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._cls = ThreadedMotoServer
        self.port = 0
        self.server = None

    def start(self) -> None:
        self.server = self._cls(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                httpx.get(self.endpoint, timeout=1.0)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not answer on {self.endpoint} within {STARTUP_SECONDS} s")
                time.sleep(0.05)

    def stop(self) -> None:
        """Down as a crashed server is: connections refused (the listening socket closed too)."""
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()
            self.server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bucket(self) -> str:
        name = f"bria-{secrets.token_hex(4)}"
        answer = httpx.put(f"{self.endpoint}/{name}", timeout=5.0)
        answer.raise_for_status()
        return name


@pytest.fixture(scope="session")
def s3_server():
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    pytest.importorskip("obstore", reason="obstore is in the test extra")
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS_* environment of a runner whose backend is the moto server (also for subprocesses)."""
    env = {
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BRIA_PIPELINE_BACKEND", raising=False)
    monkeypatch.delenv("CI", raising=False)
    return env


@pytest.fixture
def s3_url(s3_server: S3Server, s3_env: dict[str, str]) -> str:
    return f"s3://{s3_server.bucket()}/bria"


@pytest.fixture
def served(tmp_path: Path):
    """A sandbox served on 127.0.0.1 with short emulated jobs; yields (base URL, app)."""
    app = create_app(tmp_path / "sandbox.sqlite", training_seconds=0.2)
    app.state.sandbox.timings = Timings(training_seconds=0.2, generation_seconds=0.05, video_seconds=0.1,
                                        caption_min_seconds=0.05)
    with running(app) as url:
        yield url, app
    app.state.sandbox.close()


def sandbox_stats(url: str) -> dict:
    return httpx.get(f"{url}/_sandbox/stats", timeout=5.0).json()


BILLED = ("POST /v2/image/generate/tailored", "POST /v2/structured_prompt/generate/tailored",
          "POST /v2/video/generate/tailored/image-to-video", "POST /v1/tailored-gen/models/{model_id}/start_training")


def sent(before: dict, after: dict) -> dict[str, int]:
    """Requests per route between two stats snapshots."""
    return {k: n - before["routes"].get(k, 0) for k, n in after["routes"].items() if n - before["routes"].get(k, 0)}


def billed(routes: dict[str, int]) -> int:
    return sum(n for k, n in routes.items() if k in BILLED)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(extra or {})
    return env
