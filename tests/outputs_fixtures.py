"""Plain-data builders for the generation tests (imported by the conftest.py of tests/state, tests/reports,
tests/plan and tests/apply): spec-like requests, manifests with files on disk, the sandbox in process."""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

import pytest

from bria_pipeline.state.hashing import sha256_bytes
from bria_pipeline.state.file_facts import FileState
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord
from bria_pipeline.generate.outputs import ModelRef, expand_outputs
from bria_pipeline.model import DesiredGeneration, GenerationRequest, StructuredPromptSpec, VideoRequest


class _Vars(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Build:
    """Builds what the spec layer would produce, and manifests as earlier runs would leave them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "outputs"

    def prompt_set(
        self,
        name: str = "places",
        template: str = "Lucy at the {place} {time}",
        matrix: dict[str, list[Any]] | None = None,
        seeds: tuple[int, ...] = (1, 2),
        model: str = "lucy-lora",
        params: dict[str, Any] | None = None,
        structured: StructuredPromptSpec | None = None,
        prompt: bool = True,
    ) -> tuple[GenerationRequest, ...]:
        matrix = {"place": ["beach", "city"], "time": ["dawn", "night"]} if matrix is None else matrix
        names = list(matrix)
        out = []
        for values in product(*(matrix[n] for n in names)):
            variables = tuple(zip(names, values))
            for seed in seeds:
                out.append(
                    GenerationRequest(
                        set_name=name,
                        model=model,
                        variables=variables,
                        seed=seed,
                        prompt=template.format_map(_Vars(variables)) if prompt else None,
                        structured_prompt=structured,
                        params=tuple(sorted((params or {"aspect_ratio": "1:1", "steps_num": 30}).items())),
                    )
                )
        return tuple(out)

    def generation(self, *images: tuple[GenerationRequest, ...], videos: tuple[VideoRequest, ...] = ()) -> DesiredGeneration:
        return DesiredGeneration(self.out, tuple(r for group in images for r in group), videos)

    @staticmethod
    def models(trained: bool = True, **extra: ModelRef) -> dict[str, ModelRef]:
        refs = {"lucy-lora": ModelRef("lucy-lora-1a2b3c4d", "1001" if trained else None, "latest")}
        refs.update(extra)
        return refs

    def done_manifest(self, gen: DesiredGeneration, models: dict[str, ModelRef], *, write_files: bool = True) -> Manifest:
        """A manifest in which every output of `gen` is done, its file on disk (or only recorded)."""
        manifest = Manifest(self.out)
        for out in expand_outputs(gen, models).outputs:
            data = f"{out.kind}:{out.key}".encode()
            ext = "mp4" if out.kind == "video" else "png"
            file = f"{out.name}.{ext}"
            record = OutputRecord(key=out.key, **out.record_fields())
            record.status, record.file, record.sha256, record.request_id = "done", file, sha256_bytes(data), f"req-{out.key[:6]}"
            if write_files:
                path = self.out / file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            manifest.outputs[record.key] = record
            manifest.files[file] = FileState(record.sha256, len(data), 0)
        return manifest


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)


# -- the real sandbox, in-process ---------------------------------------------------------------

SANDBOX_URL = "http://sandbox"


def _png_bytes(i: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1024, 1024), (40 * i, 90, 200 - 30 * i)).save(buf, "PNG")
    return buf.getvalue()


class World:
    """A sandbox app with one trained model, and real clients talking to it in-process."""

    def __init__(self, clock: Any) -> None:
        sandbox = pytest.importorskip("bria_pipeline.sandbox")
        self.clock = clock
        self.app = sandbox.create_app(clock=clock)

    def client(self, **kw: Any) -> Any:
        import httpx

        from bria_pipeline.api import AsyncBriaClient

        return AsyncBriaClient(api_url=SANDBOX_URL, transport=httpx.ASGITransport(app=self.app), sandbox=True, **kw)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=SANDBOX_URL) as http:
            response = await http.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    async def stats(self) -> dict[str, Any]:
        return await self.admin("GET", "/_sandbox/stats")

    async def reset_stats(self) -> None:
        await self.admin("POST", "/_sandbox/reset", {})

    async def generation_posts(self) -> int:
        return (await self.stats())["routes"].get("POST /v2/image/generate/tailored", 0)

    async def trained_model(self, client: Any, name: str = "lucy-lora") -> str:
        """Project, dataset of five images, schema, completed, model trained: its id."""
        project = await client.create_project(f"{name}-project", ip_medium="illustration", ip_type="defined_character",
                                              ip_name="Lucy", ip_description="a girl with purple hair")
        dataset = await client.create_dataset(project.id, f"{name}-data")
        images = [_png_bytes(i) for i in range(5)]
        await client.update_dataset(dataset.id, visual_schema=await client.generate_visual_schema(images))
        for i, data in enumerate(images):
            await client.upload_image(dataset.id, file=data, image_name=f"pose-{i}.png")
        await self.advance(3600)
        await client.update_dataset(dataset.id, status="completed")
        model = await client.create_model(name=name, dataset_id=dataset.id, training_mode="fully_automated")
        await client.start_training(model.id)
        await self.advance(24 * 3600)
        assert (await client.get_model(model.id)).status == "Completed"
        return str(model.id)

    async def new_trained_model(self) -> str:
        async with self.client() as client:
            return await self.trained_model(client)

    async def advance(self, seconds: float) -> None:
        if hasattr(self.clock, "advance"):
            await self.admin("POST", "/_sandbox/clock/advance", {"seconds": seconds})


@pytest.fixture
def fast_world() -> World:
    """Sandbox time runs 10,000 times faster than wall time: jobs finish within milliseconds."""
    sandbox = pytest.importorskip("bria_pipeline.sandbox")
    return World(sandbox.ScaledClock(10_000))


@pytest.fixture
def still_world() -> World:
    """Sandbox time stands still until the test advances it: jobs stay IN_PROGRESS."""
    sandbox = pytest.importorskip("bria_pipeline.sandbox")
    return World(sandbox.ManualClock())
