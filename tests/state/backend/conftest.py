"""Fixtures of the backend tests: an S3 server (moto's server mode) on 127.0.0.1, a served sandbox,
and the environment a CI runner would have (credentials and endpoint only in AWS_* variables);
`cloud`: the same test against each of the three stores (moto's S3, Azurite, fake-gcs-server),
each behind a relay the test can make hang or refuse (stores.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_helpers import S3Server
from stores import KINDS, Cloud, Store, start_store, use_cloud

from bria_pipeline.sandbox import create_app, running
from bria_pipeline.sandbox.context import Timings


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


@pytest.fixture(scope="session")
def object_stores(tmp_path_factory: pytest.TempPathFactory):
    """kind -> its running Store, each started on first use and stopped at the end of the session."""
    pytest.importorskip("obstore", reason="obstore is in the test extra")
    started: dict[str, Store] = {}

    def get(kind: str) -> Store:
        if kind not in started:
            started[kind] = start_store(kind, tmp_path_factory.mktemp(f"store-{kind}"))
        return started[kind]

    yield get
    for store in started.values():
        store.stop()


@pytest.fixture(params=KINDS)
def cloud(request: pytest.FixtureRequest) -> Cloud:
    return use_cloud(request.param, request)
