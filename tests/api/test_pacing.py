"""Pacing: a paced client meets no 429 under the sandbox's rate limit; concurrency stays bounded.

The sandbox runs on a ScaledClock 60 times faster than wall time, so its "10 requests per minute
per endpoint" is 10 per real second: the client paces at 600 per (real) minute and 20 requests
take about two seconds.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bria_pipeline.api import AsyncBriaClient, RateLimited
from bria_pipeline.api.pacing import RateLimiter
from bria_pipeline.api.retry import NO_RETRY
from bria_pipeline.sandbox import FaultPlan, ScaledClock, create_app

from against_sandbox import SANDBOX_URL

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def fast_limited_app(limit_per_sandbox_minute: int = 10):
    return create_app(clock=ScaledClock(speed=60.0), faults=FaultPlan(rate_limit_per_minute=limit_per_sandbox_minute))


async def _burst(client: AsyncBriaClient, calls) -> tuple[int, int]:
    """Run the calls concurrently; (successes, 429s)."""
    results = await asyncio.gather(*(call(client) for call in calls), return_exceptions=True)
    limited = sum(isinstance(r, RateLimited) for r in results)
    others = [r for r in results if isinstance(r, BaseException) and not isinstance(r, RateLimited)]
    assert not others, others
    return len(results) - limited, limited


async def test_an_unpaced_burst_of_the_same_requests_meets_the_sandbox_rate_limit():
    """The control: without pacing, the burst the paced client survives does hit 429."""
    app = fast_limited_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL,
                                 headers={"api_token": "t"}) as raw:
        answers = await asyncio.gather(*(raw.get("/v1/tailored-gen/projects") for _ in range(20)))
    assert sum(a.status_code == 429 for a in answers) > 0


async def test_paced_client_sees_no_429_under_the_sandbox_rate_limit():
    app = fast_limited_app()
    async with AsyncBriaClient(SANDBOX_URL, sandbox=True, transport=httpx.ASGITransport(app=app),
                               retry=NO_RETRY, rate_limit_per_minute=600) as client:
        ok, limited = await _burst(client, [lambda c: c.list_projects()] * 20)
        assert (ok, limited) == (20, 0)
        assert client.stats.rate_limited == 0
        assert client.session.limiter.stats.waited_seconds > 0


async def test_per_endpoint_pacing_spaces_each_endpoint_on_its_own_as_bria_counts():
    app = fast_limited_app()
    async with AsyncBriaClient(SANDBOX_URL, sandbox=True, transport=httpx.ASGITransport(app=app),
                               retry=NO_RETRY, rate_limit_per_minute=600, rate_limit_per_endpoint=True) as client:
        calls = [lambda c: c.list_projects(), lambda c: c.list_datasets()] * 10
        ok, limited = await _burst(client, calls)
    assert (ok, limited) == (20, 0)


async def test_at_most_max_concurrency_requests_are_in_flight():
    app = create_app(faults=FaultPlan(latency_ms=30))
    for limit, expect_more_than_limit_possible in ((2, True), (8, False)):
        transport = InFlightCounter(httpx.ASGITransport(app=app))
        async with AsyncBriaClient(SANDBOX_URL, sandbox=True, transport=transport, max_concurrency=limit) as client:
            await asyncio.gather(*(client.list_projects() for _ in range(12)))
        assert transport.peak <= limit
        if expect_more_than_limit_possible:
            assert transport.peak == limit, "12 concurrent calls fill every slot"
        else:
            assert transport.peak > 2


class InFlightCounter(httpx.AsyncBaseTransport):
    """Wraps the real transport and records how many requests were in flight at most."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.now = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.now -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


class StepClock:
    """A clock for the limiter alone: sleeping moves time forward."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


async def test_a_429_pauses_every_caller_until_retry_after_and_halves_the_pace_then_recovers():
    clock = StepClock()
    limiter = RateLimiter(60, clock=clock)
    await limiter.acquire("GET /x")
    await limiter.acquire("GET /x")
    assert clock.t == pytest.approx(1.02)  # 60 per minute: one slot every 1.02 s
    limiter.on_rate_limited(retry_after=10, fallback=1)
    await limiter.acquire("GET /y")
    assert clock.t == pytest.approx(11.02), "everyone waits out the Retry-After"
    assert limiter.effective_per_minute == 30
    await limiter.acquire("GET /y")
    assert clock.t == pytest.approx(11.02 + 2.04), "half the pace after a 429"
    for _ in range(20):
        limiter.on_success()
    assert limiter.effective_per_minute == 60


async def test_per_endpoint_pacing_gives_each_endpoint_its_own_spacing():
    clock = StepClock()
    limiter = RateLimiter(60, per_endpoint=True, clock=clock)
    await limiter.acquire("GET /a")
    await limiter.acquire("GET /b")
    assert clock.t == 0, "another endpoint does not wait"
    await limiter.acquire("GET /a")
    assert clock.t == pytest.approx(1.02)
    shared = RateLimiter(60, clock=StepClock())
    await shared.acquire("GET /a")
    await shared.acquire("GET /b")
    assert shared.clock.t == pytest.approx(1.02), "one shared pace spaces all endpoints"
