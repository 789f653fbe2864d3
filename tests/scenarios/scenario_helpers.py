"""A team's working copy of examples/lucy and the service it applies to (the real sandbox, in process).

`Team` wraps what people do over weeks: edit the spec, plan, apply, act in the Console (direct
client calls), lose local files. Every read of the service goes through the sandbox's own admin
routes or the client's list calls, never through bria-pipeline's state.

Time is the sandbox's: it runs on a ManualClock and bria-pipeline's client waits on it (each poll's
pause moves the clock on), so trainings and generations take no wall time. The clock's reading is
kept beside the database (sandbox.clock), so a copied organisation goes on from where it was.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx

from bria_pipeline.sandbox.context import Timings

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.plan.document import Plan
from bria_pipeline.sandbox import ManualClock, create_app
from sandbox_time import DrivenPipeline
from example_spec import EXAMPLE, copy_example  # noqa: F401  (EXAMPLE: imported from here by the scenarios)

TRAINING_SECONDS = 0.1

# What examples/lucy generates: 2 places x 2 times x 2 seeds, one portrait from a structured
# prompt, one video. Every one of them is made again when the model they use changes.
OUTPUTS = [
    *(f"generation.places[{place}-{time}-seed{seed}]" for place in ("beach", "city") for time in ("dawn", "night") for seed in (1, 2)),
    "generation.portrait[seed3]",
    "video.beach-wave",
]
DATASET_NAME = "lucy-720be995"  # examples/lucy's dataset, content-addressed
MODEL_NAME = "lucy-lora-ce6edf7d"
# The names earlier releases gave the same content (their fingerprint hashed the images' file names).
LEGACY_DATASET_NAME = "lucy-e0a4367a"
LEGACY_MODEL_NAME = "lucy-lora-fb60f1c3"
UPLOADS = "POST /v1/tailored-gen/datasets/{dataset_id}/images"


def changes(plan: Plan) -> list[tuple[str, str]]:
    """The plan's steps that do something, as (address, kind), in plan order."""
    return [(a.address, a.kind) for a in plan.actions if a.is_change]


def without_outputs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(a, k) for a, k in pairs if not a.startswith(("generation.", "video.", "structured_prompt."))]


def outputs_of(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(a, k) for a, k in pairs if a.startswith(("generation.", "video.", "structured_prompt."))]


class Team:
    """One spec directory (a copy of examples/lucy) and one sandbox organisation."""

    def __init__(self, root: Path, *, training_seconds: float = TRAINING_SECONDS) -> None:
        self.root = root
        saved = root / "sandbox.clock"
        self.clock = ManualClock(float(saved.read_text()) if saved.exists() else time.time())
        self.app = _service(root, training_seconds, self.clock)
        self._pipelines: list[Pipeline] = []

    @classmethod
    def fresh(cls, root: Path, **kw: Any) -> Team:
        copy_example(root / "lucy")
        return cls(root, **kw)

    def restart_service(self, *, training_seconds: float) -> None:
        """The same organisation (database and files), served again with trainings of another length."""
        self.app.state.sandbox.close()
        self.app = _service(self.root, training_seconds, self.clock)

    def close(self) -> None:
        for pipeline in self._pipelines:
            pipeline.close()
        self.app.state.sandbox.close()
        (self.root / "sandbox.clock").write_text(repr(self.clock.now()))

    # --- the spec directory ---------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        return self.root / "lucy"

    @property
    def spec(self) -> Path:
        return self.dir / "spec.yaml"

    @property
    def lock_file(self) -> Path:
        return self.dir / "spec.lock.yaml"

    def edit(self, old: str, new: str) -> None:
        """Change one piece of the spec, as a person would in an editor."""
        text = self.spec.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} is not exactly once in the spec"
        self.spec.write_text(text.replace(old, new), encoding="utf-8")

    # --- bria-pipeline ----------------------------------------------------------------------------

    def pipeline(self, spec: Path | None = None, **kw: Any) -> Pipeline:
        """bria-pipeline on this team's service for `spec` (default: the team's own spec)."""
        kw.setdefault("concurrency", 10)  # every output of the example at once: the suite stays quick
        pipeline = DrivenPipeline(spec or self.spec, self.clock, sandbox=True, transport=httpx.ASGITransport(app=self.app), **kw)
        self._pipelines.append(pipeline)
        return pipeline

    def plan(self, **kw: Any) -> Plan:
        return self.pipeline().plan(**kw)

    def apply(self, plan: Plan | None = None, **kw: Any):
        result = self.pipeline().apply(plan, **kw)
        assert result.ok, [s for s in result.steps if s.status in ("failed", "skipped")]
        return result

    # --- the service, seen without bria-pipeline ----------------------------------------------

    def console(self, action: Callable[[AsyncBriaClient], Awaitable[Any]]) -> Any:
        """Do something in the Console: `action(client)` with a plain client on the same organisation."""

        async def run() -> Any:
            async with AsyncBriaClient(transport=httpx.ASGITransport(app=self.app), sandbox=True) as client:
                return await action(client)

        return asyncio.run(run())

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        async def run() -> dict:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.local") as http:
                answer = await http.request(method, path, json=body)
                answer.raise_for_status()
                return answer.json()

        return asyncio.run(run())

    def stats(self) -> dict:
        return self.admin("GET", "/_sandbox/stats")

    @staticmethod
    def sent(before: dict, after: dict) -> dict[str, int]:
        """Requests per route between two stats snapshots."""
        routes = after["routes"]
        return {k: n - before["routes"].get(k, 0) for k, n in routes.items() if n - before["routes"].get(k, 0)}

    def remote(self) -> dict[str, Any]:
        """Every project of the organisation with its datasets and models, by name."""

        async def read(client: AsyncBriaClient) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for project in await client.list_projects():
                datasets = {}
                for d in await client.list_project_datasets(project.id):
                    images = await client.list_images(d.id)
                    datasets[d.name] = {"status": d.status, "images": sorted(i.image_name for i in images)}
                models = {
                    m.name: {"status": m.status, "rank": m.training_parameters.rank, "dataset_id": m.dataset_id}
                    for m in await client.list_project_models(project.id, include_training_parameters=True)
                }
                out[project.name] = {"id": project.id, "description": project.description, "ip_type": project.ip_type,
                                     "datasets": datasets, "models": models}
            return out

        return self.console(read)

    def project(self) -> dict[str, Any]:
        """The spec's project as `remote()` describes it."""
        return self.remote()["lucy-example"]


def _service(root: Path, training_seconds: float, clock: ManualClock):
    """The sandbox on `root`'s database and `clock`, with emulated jobs of these lengths."""
    app = create_app(root / "sandbox.sqlite", clock=clock, training_seconds=training_seconds)
    app.state.sandbox.timings = Timings(
        training_seconds=training_seconds, generation_seconds=0.05, video_seconds=0.1, caption_min_seconds=0.05
    )
    return app
