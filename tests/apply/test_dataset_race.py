"""Two checkouts without a shared backend (two laptops) applying the same spec at once, against one
sandbox served on 127.0.0.1: each with its own folder and local state, started together, 5 rounds.
Started together (even rounds) or the second once the first one's dataset exists (odd rounds), both
runs succeed and end with one project, one dataset holding each image once, each image uploaded
once, one billed training."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import create_app, running
from bria_pipeline.sandbox.context import Timings
from example_spec import copy_example

pytestmark = pytest.mark.timeout(300)
TOKEN = "race-organisation-token"
ROUNDS = 5
RUN_TIMEOUT = 60.0
UPLOADS = "POST /v1/tailored-gen/datasets/{dataset_id}/images"
DELETES = "DELETE /v1/tailored-gen/datasets/{dataset_id}/images/{image_id}"


def repository(root: Path) -> Path:
    """A git repository holding examples/lucy without its generations (the race is about the dataset)."""
    where = root / "origin" / "lucy"
    copy_example(where)
    spec = where / "spec.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text[: text.index("\ngenerate:")] + "\n", encoding="utf-8")
    git = ["git", "-c", "user.name=Lucy", "-c", "user.email=lucy@example.com", "-C", str(root / "origin")]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "."], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "lucy"], check=True, timeout=30)
    return root / "origin"


def checkout(origin: Path, where: Path) -> Path:
    """A fresh clone on a laptop: no .bria/, no lock file, no backend."""
    subprocess.run(["git", "clone", "-q", str(origin), str(where)], check=True, timeout=30)
    return where / "lucy" / "spec.yaml"


def remote(url: str) -> dict:
    async def read() -> dict:
        async with AsyncBriaClient(url, TOKEN) as client:
            projects = await client.list_projects()
            out: dict = {"projects": len(projects), "datasets": [], "models": []}
            for project in projects:
                for d in await client.list_project_datasets(project.id):
                    names = [i.image_name for i in await client.list_images(d.id)]
                    out["datasets"].append({"id": d.id, "status": d.status, "images": len(names), "distinct": len(set(names))})
                out["models"] += [(m.dataset_id, m.status) for m in await client.list_project_models(project.id)]
            return out

    return asyncio.run(read())


def test_two_checkouts_without_a_backend_racing_train_once_on_each_image_once(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BRIA_PIPELINE_BACKEND", raising=False)
    origin = repository(tmp_path)
    for n in range(ROUNDS):
        app = create_app(tmp_path / f"sandbox-{n}.sqlite", training_seconds=0.2)
        app.state.sandbox.timings = Timings(training_seconds=0.2, caption_min_seconds=0.05)
        try:
            with running(app) as url:
                a, b = (checkout(origin, tmp_path / f"round-{n}" / laptop) for laptop in ("laptop-a", "laptop-b"))
                dataset_made = threading.Event()

                def on_progress(event) -> None:
                    if event.kind == "end" and event.address == "dataset.lucy":
                        dataset_made.set()

                def second() -> object:
                    if n % 2:  # odd rounds: the second laptop starts once the first one's dataset exists
                        assert dataset_made.wait(RUN_TIMEOUT), "the first run made no dataset"
                    return Pipeline(b, api_url=url, token=TOKEN).apply(auto_approve=True)

                with ThreadPoolExecutor(2) as pool:  # two runners, each its own event loop, client and state
                    runs = [pool.submit(lambda: Pipeline(a, api_url=url, token=TOKEN).apply(auto_approve=True,
                                                                                           on_progress=on_progress)),
                            pool.submit(second)]
                    results = [r.result(timeout=RUN_TIMEOUT) for r in runs]
                stats = httpx.get(f"{url}/_sandbox/stats", timeout=5.0).json()
                world = remote(url)
        finally:
            app.state.sandbox.close()
        assert all(r.ok for r in results), [[s for s in r.steps if s.status != "done"] for r in results]
        assert world["projects"] == 1 and len(world["datasets"]) == 1, world
        [dataset] = world["datasets"]
        assert dataset == {"id": dataset["id"], "status": "completed", "images": 10, "distinct": 10}, world
        assert stats["billed"].get("training", 0) == 1, stats["billed"]
        assert [m for m in world["models"] if m[1] != "Created"] == [(dataset["id"], "Completed")], world
        # no image sent twice: the second runner waited for the first one's uploads, then skipped them
        assert stats["routes"].get(UPLOADS, 0) == 10 and DELETES not in stats["routes"], stats["routes"]
