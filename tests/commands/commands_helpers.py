"""Helpers of the commands/ tests: the example spec on disk, the sandbox's own request counts.

Imported by its unique name (tests/commands/ is on the import path while its tests run)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx

from example_spec import EXAMPLE_IMAGES, lucy_spec

PROJECT = "lucy-commands"
TRAINING = {"rank": 16, "learning_rate": 0.0001, "total_training_steps": 200, "checkpoint_interval": 100}


def write_spec(root: Path, *, generate: bool = False, project: str = PROJECT) -> Path:
    """The example (Lucy) spec with a model, over the example's images; `generate`: one generation set."""
    images = root / "images"
    if not images.exists():
        shutil.copytree(EXAMPLE_IMAGES, images)
    spec = root / "spec.yaml"
    spec.write_text(lucy_spec(project=project, training=TRAINING, generate=generate))
    return spec


def mutating_requests(app: Any) -> int:
    """Mutating requests the sandbox received, read through its admin route (not the client's count)."""

    async def read() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.local") as http:
            return int((await http.get("/_sandbox/stats")).json()["mutating"])

    return asyncio.run(read())
