"""Fixtures for the sandbox tests: an in-process app on a ManualClock, a synchronous facade over
httpx.AsyncClient + httpx.ASGITransport (the way `--sandbox` runs talk to it), and small real images."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import CONTRACT_DIR, operations

from bria_pipeline.sandbox import FaultPlan, ManualClock, create_app
from sandbox_api import Api


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(clock: ManualClock):
    app = create_app(clock=clock, training_seconds=3.0)
    yield app
    app.state.sandbox.close()


@pytest.fixture
def api(app) -> Api:
    client = Api(app)
    yield client
    client.close()


@pytest.fixture
def faulty(clock: ManualClock):
    """Build an Api over an app with a given FaultPlan: faulty(FaultPlan(...))."""
    made: list[tuple[Any, Api]] = []

    def build(plan: FaultPlan) -> Api:
        app = create_app(clock=clock, faults=plan)
        client = Api(app)
        made.append((app, client))
        return client

    yield build
    for app, client in made:
        client.close()
        app.state.sandbox.close()


@pytest.fixture(scope="session")
def contract_dir() -> Path:
    if operations() is None:
        pytest.skip("the API contract (../shared/contract) is not available")
    return CONTRACT_DIR


@pytest.fixture
def image_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A plain HTTP server on 127.0.0.1 serving whatever the test puts in the dict."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            data = files.get(self.path)
            if data is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()
    server.server_close()
