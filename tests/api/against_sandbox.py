"""Helpers for running the real client against the real sandbox in tests.

`DrivenClock` (tests/sandbox_time.py, shared with the scenario tests) is the client's time source
in tests that wait: each of the client's sleeps moves the sandbox's ManualClock forward by as much,
so a 60-second Retry-After or a training's polls take no real time.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image as PILImage

from bria_pipeline.api import AsyncBriaClient, RetryPolicy
from sandbox_time import DrivenClock  # noqa: F401  (imported from here by the api tests)

SANDBOX_URL = "http://sandbox.local"
FAST_RETRY = RetryPolicy(max_attempts=6, max_elapsed=600.0, base_delay=0.01, max_delay=0.05, max_retry_after=120.0)


def png_bytes(index: int, side: int = 1024) -> bytes:
    """A flat-colour PNG, distinct per index."""
    colour = ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)
    buf = io.BytesIO()
    PILImage.new("RGB", (side, side), colour).save(buf, format="PNG")
    return buf.getvalue()


class Admin:
    """The sandbox's /_sandbox/ routes (outside the API: no token, not counted, never faulted)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def stats(self) -> dict[str, Any]:
        return (await self.http.get("/_sandbox/stats")).raise_for_status().json()

    async def faults(self, **plan: Any) -> dict[str, Any]:
        return (await self.http.post("/_sandbox/faults", json=plan)).raise_for_status().json()

    async def reset_stats(self) -> None:
        (await self.http.post("/_sandbox/reset", json={})).raise_for_status()

    async def stage(self, name: str, data: bytes) -> str:
        (await self.http.put(f"/_sandbox/staging/{name}", content=data)).raise_for_status()
        return f"{SANDBOX_URL}/_sandbox/staging/{name}"

    async def route_count(self, route: str) -> int:
        return (await self.stats())["routes"].get(route, 0)


async def make_project(client: AsyncBriaClient, name: str = "lucy-brand"):
    return await client.create_project(name, ip_medium="illustration", ip_type="defined_character",
                                       ip_name="Lucy", ip_description="a girl with purple hair")


async def make_dataset_with_images(client: AsyncBriaClient, project_id: int, name: str = "lucy-v1", n: int = 5):
    """A draft dataset with a visual schema and `n` captioned images named img-<i>.png."""
    dataset = await client.create_dataset(project_id, name)
    schema = await client.generate_visual_schema([png_bytes(i) for i in range(5)])
    await client.update_dataset(dataset.id, visual_schema=schema)
    for i in range(n):
        await client.upload_image(dataset.id, file=png_bytes(i), image_name=f"img-{i}.png")
    return await client.get_dataset(dataset.id)
