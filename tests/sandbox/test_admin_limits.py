"""The sandbox's admin routes refuse what makes no sense, cleanly (4xx, never a traceback)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from bria_pipeline.sandbox import create_app, running

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def served():
    app = create_app()
    with running(app) as url:
        yield url
    app.state.sandbox.close()


def raw_put(url: str, path: str, body: bytes) -> tuple[int, str]:
    """PUT exactly `path` (no client normalises its dots away) and read the answer."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                     .encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, text = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), text.decode(errors="replace")


@pytest.mark.parametrize("name, status", [("..", 400), ("%2e%2e", 400), (".hidden", 400), ("..%2fetc", 404)])
def test_staging_refuses_path_traversal_with_a_4xx(served, name, status):
    answer, text = raw_put(served, f"/_sandbox/staging/{name}", b"zip bytes")
    assert answer == status and "Traceback" not in text, (answer, text)
    assert ("is refused" if status == 400 else "Not found") in text
    assert raw_put(served, "/_sandbox/staging/ok.zip", b"zip bytes")[0] == 201


def test_staging_refuses_a_declared_size_over_the_bound(served, monkeypatch):
    from bria_pipeline.sandbox.routes import files

    monkeypatch.setattr(files, "MAX_STAGING_BYTES", 8)
    status, text = raw_put(served, "/_sandbox/staging/big.zip", b"0123456789")
    assert status == 413 and "at most" in text
    with httpx.Client() as http:
        assert http.get(f"{served}/_sandbox/staging/big.zip").status_code == 404  # nothing kept


def test_absurd_fault_and_variant_settings_are_refused_and_the_plan_stays(served):
    with httpx.Client(base_url=served) as http:
        for bad in ({"latency_ms": 1e308}, {"latency_ms": float("inf")}, {"latency_ms": -1}, {"error_status": 418},
                    {"error_rate": 2}, {"seed": -1}, {"lose_response_routes": "all"}, {"throttle_retry_after": 10**9}):
            answer = http.post("/_sandbox/faults", content=json.dumps(bad))
            assert answer.status_code == 400 and answer.json()["message"], bad
        for bad in ({"unknown_polls": 10**9}, {"url_ttl_seconds": 0}, {"training_version": "v3"},
                    {"job_status_case": "x"}, {"nope": 1}):
            answer = http.post("/_sandbox/variant", json=bad)
            assert answer.status_code == 400 and answer.json()["message"], bad
        assert http.get("/_sandbox/faults").json()["latency_ms"] == 0
        assert http.get("/_sandbox/variant").json()["training_version"] == "latest"


def test_sandbox_serve_on_a_busy_port_fails_at_once_before_its_banner():
    from click.testing import CliRunner

    from bria_pipeline.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["sandbox", "serve", "--port", str(port)], prog_name="bria-pipeline")
    assert result.exit_code == 1
    assert f"127.0.0.1:{port} is already in use" in result.output and "--port" in result.output
    assert "bria-pipeline sandbox on" not in result.output  # no banner for a server that never ran
