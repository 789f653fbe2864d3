"""The token is a secret: never in logs, errors, reprs or events, never sent to another host."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import urllib.parse

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bria_pipeline.api import (
    AmbiguousResult,
    ApiError,
    AsyncBriaClient,
    AsyncJob,
    ConfigError,
    NotFound,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    Secret,
    TransportError,
)
from bria_pipeline.sandbox import running

from against_sandbox import make_dataset_with_images, make_project, png_bytes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _texts(error: BaseException) -> list[str]:
    """Everything an exception could show: str, repr, describe, args, along its cause chain."""
    out: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        out += [str(seen), repr(seen), repr(seen.args)]
        if isinstance(seen, ApiError):
            out += [seen.describe(), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return out


async def test_no_log_line_error_repr_or_event_of_a_faulty_run_contains_the_token(
    make_client, admin, caplog
):
    token = "tok-" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)
    events: list = []
    client = make_client(token=token, on_event=events.append, retry=RetryPolicy(max_attempts=10, base_delay=0.01))
    no_retry = make_client(token=token, retry=RetryPolicy(max_attempts=1), on_event=events.append)
    texts: list[str] = [repr(client), str(client.config), repr(client.config)]

    async def expect(error_type, call):
        with pytest.raises(error_type) as info:
            await call
        texts.extend(_texts(info.value))

    # a run under 5xx and lost responses: retries and read-backs
    await admin.faults(seed=5, error_rate=0.2, lose_response_rate=0.3, lose_mode="drop")
    project = await make_project(client)
    dataset = await make_dataset_with_images(client, project.id, n=5)
    await admin.faults()
    await client.update_dataset(dataset.id, status="completed")
    model = await client.create_model("m", dataset.id)
    await client.start_training(model.id)
    await client.wait_for_training(model.id, interval=1, timeout=60)

    # errors of every kind
    await expect(NotFound, client.get_project(123456))
    await admin.faults(lose_response_rate=1.0, lose_response_routes=["POST /v2/image/generate/tailored"])
    await expect(AmbiguousResult, client.generate_image(model.id, prompt="x"))
    await admin.faults(rate_limit_per_minute=1)
    await no_retry.list_models()
    await expect(RateLimited, no_retry.list_models())
    await admin.faults(quota=0)
    await expect(QuotaExceeded, client.list_projects())
    await expect(QuotaExceeded, client.list_projects())
    async with AsyncBriaClient("http://127.0.0.1:9", token=token, retry=RetryPolicy(max_attempts=2, base_delay=0)) as gone:
        await expect(TransportError, gone.list_projects())
        texts.append(repr(gone))

    assert client.stats.retries > 0 and client.stats.adopted > 0, "the run must have been faulty"
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    texts += [e.describe() for e in events] + [repr(e) for e in events]
    texts += [repr(client.stats.as_dict()), client.stats.summary()]
    assert len(caplog.records) > 20
    leaks = [t for t in texts if token in t]
    assert not leaks, leaks[:3]


def recorder_app(seen: list[tuple[str, dict[str, str]]]) -> Starlette:
    """A host that is not the API: records every request's path and headers."""

    async def record(request: Request) -> None:
        seen.append((request.url.path, dict(request.headers)))

    async def status(request: Request) -> Response:
        await record(request)
        base = str(request.base_url).rstrip("/")
        rid = request.path_params["rid"]
        return JSONResponse({"status": "COMPLETED", "request_id": rid,
                             "result": {"image_url": f"{base}/files/{rid}.png", "seed": 5}})

    async def file(request: Request) -> Response:
        await record(request)
        return Response(png_bytes(1, side=8), media_type="image/png")

    async def hop(request: Request) -> Response:
        await record(request)
        return RedirectResponse(request.query_params["to"], status_code=302)

    return Starlette(routes=[Route("/status/{rid}", status), Route("/v2/status/{rid}", status),
                             Route("/files/{name}", file), Route("/hop", hop)])


def _tokens(seen: list[tuple[str, dict[str, str]]]) -> list[str | None]:
    return [headers.get("api_token") for _, headers in seen]


async def test_a_status_url_on_a_foreign_host_is_polled_at_the_api_roots_status_route():
    """A stored status_url on another host (a proxy, a changed API URL) is not polled: it would get
    no token and answer 401. The API root's /v2/status/{id} is asked instead, with the token; a
    result URL elsewhere is fetched without it."""
    token = "tok-" + secrets.token_hex(8)
    api_seen: list = []
    foreign: list = []
    with running(recorder_app(api_seen)) as api, running(recorder_app(foreign)) as other:
        async with AsyncBriaClient(api, token=token) as client:
            result = await client.wait_for_job(AsyncJob("r1", f"{other}/status/r1", {}), interval=0.01)
            assert result.image_url == f"{api}/files/r1.png" and result.seed == 5
            assert (await client.fetch_bytes(f"{other}/files/r1.png")).startswith(b"\x89PNG")
    assert [path for path, _ in api_seen] == ["/v2/status/r1"]
    assert _tokens(api_seen) == [token]
    assert [path for path, _ in foreign] == ["/files/r1.png"]
    assert _tokens(foreign) == [None]


async def test_the_token_goes_to_the_api_host_and_is_dropped_when_a_redirect_leaves_it():
    token = "tok-" + secrets.token_hex(8)
    api_seen: list = []
    other_seen: list = []
    with running(recorder_app(api_seen)) as api, running(recorder_app(other_seen)) as other:
        assert api.rsplit(":", 1)[0] == other.rsplit(":", 1)[0], "same host, another port"
        async with AsyncBriaClient(api, token=token) as client:
            await client.fetch_bytes(f"{api}/files/mine.png")
            await client.fetch_bytes(f"{api}/hop?to={other}/files/theirs.png")
            await client.fetch_bytes(f"/hop?to={api}/files/back.png")  # relative: the API's
    assert [p for p, _ in api_seen] == ["/files/mine.png", "/hop", "/hop", "/files/back.png"]
    assert _tokens(api_seen) == [token] * 4
    assert [p for p, _ in other_seen] == ["/files/theirs.png"]
    assert _tokens(other_seen) == [None]


async def test_the_sandbox_never_receives_a_real_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("BRIA_API_TOKEN", "real-" + secrets.token_hex(8))
    seen: list = []
    with running(recorder_app(seen)) as fake_sandbox:
        async with AsyncBriaClient(fake_sandbox, sandbox=True) as client:
            await client.fetch_bytes(f"{fake_sandbox}/files/x.png")
    assert _tokens(seen) == ["sandbox-token"]


async def test_server_text_quoting_the_token_is_masked_in_the_error():
    token = "tok-" + secrets.token_hex(8)

    async def echo(request: Request) -> Response:
        return JSONResponse({"message": f"invalid token {request.headers.get('api_token')}"}, status_code=401)

    app = Starlette(routes=[Route("/v1/tailored-gen/projects", echo)])
    async with AsyncBriaClient("http://api.local", token=token, transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(ApiError) as info:
            await client.list_projects()
    assert "invalid token ****" in info.value.describe()
    assert not [t for t in _texts(info.value) if token in t]


@pytest.mark.parametrize("bad, what", [
    ("tok-1234abcd\nline-two-5678", "a line break (CR or LF) at character 13"),
    ("tok-1234abcd\r", "a line break (CR or LF) at character 13"),  # inside: outer whitespace is trimmed
    ("tok-1234abcd\u00e9", "a non-ASCII character at character 13"),
    ("tok-1234 abcd", "a space at character 9"),
    ("tok-1234\x00abcd", "a control character at character 9"),
])
async def test_a_token_a_header_cannot_carry_is_refused_before_any_request(bad: str, what: str) -> None:
    seen: list = []
    with running(recorder_app(seen)) as url:
        with pytest.raises(ConfigError) as info:
            AsyncBriaClient(url, token=bad + "x")
    assert f"the API token in the token given holds {what}" in info.value.describe()
    assert seen == []
    assert not [t for t in _texts(info.value) if bad.strip() in t or repr(bad)[1:-1] in t]


def test_every_form_of_the_token_is_masked_and_ordinary_text_is_left_alone() -> None:
    token = "tok-" + secrets.token_hex(12) + "\nsecond-line"
    data = token.encode()
    secret = Secret(token)
    text = " | ".join([token, repr(token), repr(data), json.dumps(token), urllib.parse.quote(token, safe=""),
                       urllib.parse.quote_plus(token), base64.b64encode(data).decode(),
                       base64.urlsafe_b64encode(data).decode(), base64.b64encode(b"?" + data).decode()[2:-4],
                       "plain words stay"])
    masked = secret.redact(text)
    assert token.splitlines()[0] not in masked and "second-line" not in masked
    assert base64.b64encode(data).decode()[:16] not in masked
    assert masked.endswith(" | plain words stay")
