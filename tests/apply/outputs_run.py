"""Carry generation steps out through the one executor, with only what they need: an output
folder, its manifest, the structured prompt pins and a client (no project, datasets or models)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from bria_pipeline.api.stats import RequestStats
from bria_pipeline.apply.context import ApplyOptions, GenerationState, RemoteIndex, Run
from bria_pipeline.apply.executor import execute
from bria_pipeline.apply.result import ApplyResult, GenerationReport
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.generate.outputs import ModelRef
from bria_pipeline.lockfile import Lock
from bria_pipeline.model import Desired, DesiredProject
from bria_pipeline.plan.actions import Action
from bria_pipeline.plan.document import Plan
from bria_pipeline.state.observed import Observed
from bria_pipeline.state.store import StateStore


class NoNetwork:
    """A client that must not be called: any request fails the test (its request counters may be read)."""

    def __init__(self) -> None:
        self.stats = RequestStats()

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a generation step called client.{name}")


async def run_outputs(
    actions: Sequence[Action],
    client: Any,
    manifest: Manifest,
    output_dir: Path,
    *,
    lock_pins: MutableMapping[str, str],
    concurrency: int = 4,
    models: Mapping[str, ModelRef] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    wait_timeout: float = 600.0,
    poll_interval: float = 1.0,
    max_poll_interval: float = 10.0,
    results: list[ApplyResult] | None = None,
) -> GenerationReport:
    def progress(event: Any) -> None:
        if on_progress is not None and event.kind == "advance" and event.address == "generation":
            on_progress(event.done, event.total)

    run = generation_run(client, manifest, output_dir, lock_pins=lock_pins, models=models, wait_timeout=wait_timeout,
                         poll_interval=poll_interval, max_poll_interval=max_poll_interval)
    run.options = ApplyOptions(concurrency=concurrency)
    run.on_progress = progress
    plan = Plan(tuple(actions), str(run.desired.spec_path), "p", "", "", "")
    result = await execute(plan, run)
    if results is not None:
        results.append(result)
    assert run.outputs is not None and result.generation is run.outputs.report
    return run.outputs.report


def generation_run(client: Any, manifest: Manifest, output_dir: Path, *, lock_pins: MutableMapping[str, str],
                   models: Mapping[str, ModelRef] | None = None, wait_timeout: float = 600.0,
                   poll_interval: float = 1.0, max_poll_interval: float = 10.0) -> Run:
    """A Run with only a generation state: no project, datasets or models."""
    output_dir = Path(output_dir)
    desired = Desired(output_dir / "spec.yaml", output_dir, DesiredProject("p", "defined_character", "photography"), {}, {})
    outputs = GenerationState(manifest=manifest, output_dir=output_dir, lock_pins=lock_pins, models=dict(models or {}),
                              wait_timeout=wait_timeout, poll_interval=poll_interval,
                              max_poll_interval=max_poll_interval)
    return Run(client, desired, StateStore(output_dir.parent / "state.json"), Lock(), output_dir.parent / "spec.lock.yaml",
               RemoteIndex({}, Observed(), desired), outputs=outputs)
