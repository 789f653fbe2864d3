"""call_timeout (the CLI's apply --timeout) bounds the time one call spends waiting on the API,
retries and backoff included; waiting for a turn (pacing, a 429's Retry-After) is not counted."""

from __future__ import annotations

import asyncio
import time

import pytest

from against_sandbox import make_project
from bria_pipeline.api import AsyncBriaClient, ConfigError, TransportError
from bria_pipeline.sandbox.server import silent

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_an_api_that_never_answers_fails_the_call_after_call_timeout_not_after_two_minutes():
    with silent() as url:
        async with AsyncBriaClient(url, token="t", call_timeout=1.0) as client:
            started = time.monotonic()
            with pytest.raises(TransportError):
                await client.list_projects()
            elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5, elapsed


async def test_the_call_timeout_is_set_through_the_client_and_checked_there():
    with silent() as url:
        async with AsyncBriaClient(url, token="t") as client:
            assert client.call_timeout is None
            with pytest.raises(ConfigError, match="positive number of seconds"):
                client.call_timeout = 0
            client.call_timeout = 1.0  # as `apply --timeout 1s` does, after the client is made
            started = time.monotonic()
            with pytest.raises(TransportError):
                await client.list_projects()
    assert client.call_timeout == 1.0 and time.monotonic() - started < 2.5


async def test_pacing_and_retry_after_pauses_do_not_count_against_call_timeout(make_client, admin):
    # 6 requests a minute: the fourth call waits 30 s (sandbox clock) for its turn
    client = make_client(rate_limit_per_minute=6, call_timeout=1.0)
    projects = await asyncio.gather(*(make_project(client, f"p{i}") for i in range(4)))
    assert len({p.id for p in projects}) == 4
    assert client.session.limiter.stats.waited_seconds >= 30
    # half the requests answered 429 with Retry-After: 2
    await admin.faults(throttle_rate=0.5, throttle_retry_after=2, seed=3)
    throttled = make_client(call_timeout=1.0)
    for _ in range(6):
        await throttled.list_projects()
    assert throttled.stats.rate_limited >= 1
