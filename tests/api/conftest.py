"""Fixtures: the real client against the real sandbox, in-process (httpx.ASGITransport).

Helpers shared by the tests live in against_sandbox.py (imported by that unique name: every test
folder has a conftest.py, so "conftest" names no module in particular).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from against_sandbox import FAST_RETRY, SANDBOX_URL, Admin, DrivenClock
from bria_pipeline.api import AsyncBriaClient
from bria_pipeline.sandbox import ManualClock, create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox_app(manual_clock: ManualClock):
    return create_app(clock=manual_clock, base_url=SANDBOX_URL, training_seconds=3.0)


@pytest.fixture
async def admin(sandbox_app) -> AsyncIterator[Admin]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url=SANDBOX_URL) as http:
        yield Admin(http)


@pytest.fixture
async def make_client(sandbox_app, manual_clock) -> AsyncIterator[Any]:
    """`make_client(**kw)`: an AsyncBriaClient on the in-process sandbox, closed after the test."""
    made: list[AsyncBriaClient] = []

    def make(**kw: Any) -> AsyncBriaClient:
        kw.setdefault("retry", FAST_RETRY)
        kw.setdefault("clock", DrivenClock(manual_clock))
        kw.setdefault("transport", httpx.ASGITransport(app=sandbox_app))
        client = AsyncBriaClient(SANDBOX_URL, sandbox=True, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def client(make_client) -> AsyncBriaClient:
    return make_client()
