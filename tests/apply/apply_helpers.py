"""Helpers of the apply tests: a small spec on disk, and reading the real sandbox back."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from example_spec import lucy_spec

from bria_pipeline.api.client import AsyncBriaClient

TOKEN = "test-organisation-token"


def png(index: int, variant: int = 0) -> bytes:
    """A 1024x1024 PNG distinct per (index, variant): a few KB."""
    img = Image.new("RGB", (1024, 1024), ((index * 41 + variant * 97) % 256, (index * 83) % 256, 180))
    draw = ImageDraw.Draw(img)
    draw.rectangle([100 + index * 30, 200, 500 + index * 30, 900 - variant * 50], fill=(120, 60, 180))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


class SpecDir:
    """A spec directory: `write(...)` (re)writes spec.yaml and its images; returns the spec path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images = root / "images"
        self.images.mkdir(parents=True, exist_ok=True)

    @property
    def spec(self) -> Path:
        return self.root / "spec.yaml"

    def image(self, index: int, variant: int = 0) -> None:
        (self.images / f"pose-{index:02d}.png").write_bytes(png(index, variant))

    def write(
        self,
        *,
        images: int = 6,
        rank: int = 16,
        steps: int = 200,
        project: str = "lucy-test",
        description: str = "Lucy, the test mascot",
        complete: bool = True,
        models: bool = True,
        generate: bool = False,
        captions: bool = True,
    ) -> Path:
        for i in range(1, images + 1):
            if not (self.images / f"pose-{i:02d}.png").exists():
                self.image(i)
        training = {"rank": rank, "learning_rate": 0.0001, "total_training_steps": steps, "checkpoint_interval": 100}
        text = lucy_spec(project=project, description=description, complete=None if complete else False,
                         captions=("caption", "refine") if captions else (), training=training if models else None,
                         generate=generate)
        self.spec.write_text(text)
        return self.spec


def sandbox_stats(app) -> dict[str, Any]:
    """The sandbox's own request counters, read through its admin route."""

    async def read() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.local") as http:
            return (await http.get("/_sandbox/stats")).json()

    return asyncio.run(read())


def console(app, action):
    """Do something to the sandbox as a person in the Console would: `action(client)` (async)."""

    async def run():
        async with AsyncBriaClient(transport=httpx.ASGITransport(app=app), sandbox=True) as client:
            return await action(client)

    return asyncio.run(run())


def remote_snapshot(app_or_url, token: str | None = None) -> dict[str, Any]:
    """Everything in the sandbox's organisation, normalised for comparing two runs."""

    async def read(client: AsyncBriaClient) -> dict[str, Any]:
        projects = await client.list_projects()
        out: dict[str, Any] = {"projects": sorted(p.name for p in projects), "datasets": [], "models": []}
        for project in projects:
            for d in await client.list_project_datasets(project.id):
                images = await client.list_images(d.id)
                out["datasets"].append(
                    {
                        "name": d.name,
                        "status": d.status,
                        "schema": d.visual_schema,
                        "images": sorted((i.image_name, i.caption, i.caption_source) for i in images),
                    }
                )
            for m in await client.list_project_models(project.id, include_training_parameters=True):
                out["models"].append(
                    {"name": m.name, "status": m.status, "params": m.training_parameters.as_body(), "checkpoints": list(m.checkpoint_steps)}
                )
        out["datasets"].sort(key=lambda d: d["name"])
        out["models"].sort(key=lambda m: m["name"])
        return out

    async def run():
        if isinstance(app_or_url, str):
            client = AsyncBriaClient(app_or_url, token)
        else:
            client = AsyncBriaClient(transport=httpx.ASGITransport(app=app_or_url), sandbox=True)
        async with client:
            return await read(client)

    return asyncio.run(run())


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)
