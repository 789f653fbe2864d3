"""The operation apply and destroy run (commands/operation.py), phase by phase, against the real
sandbox in process: observe, plan (or check a saved plan), check, execute, persist; and the
workspace's typed record of where its state is (Found)."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from commands_helpers import mutating_requests, write_spec

from bria_pipeline.apply.result import StepCounts
from bria_pipeline.cli.run_cmds import apply_counts
from bria_pipeline.commands.operation import Operation, Planning, plan_phase, syncing
from bria_pipeline.commands.workspace import Found, Workspace
from bria_pipeline.plan.errors import StalePlanError
from bria_pipeline.state.locate import Located
from bria_pipeline.state.store import StateStore


def test_the_plan_phase_makes_a_plan_and_sends_nothing_that_changes(make_pipeline, sandbox_app, spec: Path) -> None:
    ws: Workspace = make_pipeline().workspace

    async def planned_once():
        async with ws.observing() as seen:
            return await plan_phase(ws, seen, Planning()), seen.requests()

    planned, requests = asyncio.run(planned_once())
    plan = planned.plan
    assert plan.has_changes and plan.spec_path == str(spec) and plan.operation == "apply"
    assert {"project", "dataset.lucy", "model.lucy-lora"} <= {a.address for a in plan.changes}
    assert planned.ws is ws and planned.stale == ()
    assert requests["total"] > 0 and requests["mutating"] == 0 and mutating_requests(sandbox_app) == 0
    assert not (ws.state_dir / "state.json").exists()  # planning writes no state

    destroy = asyncio.run(_destroy_plan(ws))
    assert destroy.operation == "destroy" and not destroy.has_changes  # nothing exists yet


async def _destroy_plan(ws: Workspace):
    async with ws.observing(images=False) as seen:
        return (await plan_phase(ws, seen, Planning("destroy"))).plan


def test_the_phases_one_by_one_carry_a_plan_out_and_persist_it(make_pipeline, sandbox_app) -> None:
    ws: Workspace = make_pipeline().workspace
    shown = []

    async def run():
        with ws.run_lock("apply") as lock:
            operation = Operation(ws, Planning(), lock, on_plan=lambda plan: shown.append(plan) or None)
            async with operation.observe() as seen:
                planned = await operation.plan(seen)
                assert await asyncio.to_thread(mutating_requests, sandbox_app) == 0  # nothing sent yet
                plan = operation.check(planned, seen)
                assert plan is not None and shown == [plan]
                result = await operation.execute(planned, plan, seen)
                assert StateStore.load(ws.state_dir / "state.json").last_apply["status"] == "running"
            return await operation.persist(planned.ws, plan, seen, result)

    result = asyncio.run(run())
    assert result.ok and result.requests["mutating"] == mutating_requests(sandbox_app) > 0
    assert StateStore.load(ws.state_dir / "state.json").last_apply["status"] == "ok"
    assert not make_pipeline().plan().has_changes


def test_a_check_that_is_declined_sends_nothing(make_pipeline, sandbox_app) -> None:
    ws: Workspace = make_pipeline().workspace

    async def run():
        with ws.run_lock("apply") as lock:
            operation = Operation(ws, Planning(), lock, on_plan=lambda plan: False)
            async with operation.observe() as seen:
                return operation.check(await operation.plan(seen), seen)

    assert asyncio.run(run()) is None
    assert mutating_requests(sandbox_app) == 0
    result = make_pipeline().apply(on_plan=lambda plan: False)
    assert result.cancelled and not result.steps and mutating_requests(sandbox_app) == 0


def test_a_stale_saved_plan_is_refused_before_any_request_that_changes(make_pipeline, sandbox_app, spec: Path,
                                                                        tmp_path: Path) -> None:
    saved = make_pipeline().plan()
    other = write_spec(tmp_path / "other", project="lucy-commands")  # the same project name: the remote changes
    assert make_pipeline(other).apply(auto_approve=True).ok
    before = mutating_requests(sandbox_app)
    with pytest.raises(StalePlanError) as refused:
        make_pipeline().apply(saved, auto_approve=True)
    assert str(refused.value).startswith("the saved plan is stale: ")
    assert refused.value.hint == f"review a new plan: bria-pipeline plan {spec} --out plan.json"
    assert mutating_requests(sandbox_app) == before

    fresh = make_pipeline().plan()
    image = spec.parent / "images" / "pose-04.png"
    Image.open(image).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(image)
    with pytest.raises(StalePlanError):  # an image changed on disk since the plan was made
        make_pipeline().apply(fresh, auto_approve=True)
    assert mutating_requests(sandbox_app) == before


def test_counts_are_read_from_a_real_apply_result(make_pipeline, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "generating", generate=True)
    result = make_pipeline(spec).apply(auto_approve=True, wait=False)  # the training runs on: outputs wait for it
    statuses = Counter(step.status for step in result.steps)
    counts = result.counts
    assert counts == StepCounts(**statuses) and counts.running == 1 and counts.deferred > 0 and counts.done > 0
    assert apply_counts(result) == (f"Apply complete: {counts.done} done, 0 failed, 0 skipped, 1 still running, "
                                    f"{counts.deferred} deferred")
    assert result.summary().startswith(apply_counts(result) + " (")
    by_kind = result.counts_by_kind()
    assert set(by_kind) == {"project", "dataset", "model", "generation"}
    assert by_kind["model"].running == 1 and by_kind["generation"].deferred == counts.deferred
    assert sum(c.done for c in by_kind.values()) == counts.done

    finished = make_pipeline(spec).apply(auto_approve=True)
    assert finished.ok and finished.counts.running == 0 and finished.counts.deferred == 0
    assert apply_counts(finished) == f"Apply complete: {finished.counts.done} done, 0 failed, 0 skipped"


def test_where_the_state_is_found_is_typed(make_pipeline, tmp_path: Path) -> None:
    local: Workspace = make_pipeline().workspace
    assert local.found == Found() and local.locate() is None
    assert local.recorded() == {} and local.found.record == {}  # the lock file records no backend

    backend = f"file://{tmp_path / 'store'}"
    assert make_pipeline(backend=backend).apply(auto_approve=True).ok
    ws: Workspace = make_pipeline(backend=backend).workspace
    located = ws.locate()
    assert isinstance(located, Located) and ws.found.located is located and located.key == "lucy/spec"
    opened = ws.open_state(check=True)
    assert opened.store.lineage["id"] == located.lineage and ws.found.moved_from is None
    assert opened.backend_manifest is None  # no generation: observing reads no manifest of the backend's
    assert not make_pipeline(backend=backend).plan().has_changes


def test_the_files_a_plan_reads_are_fetched_from_the_backend_before_it_runs(make_pipeline, tmp_path: Path) -> None:
    """A runner without the outputs (a fresh checkout): retraining supersedes the outputs, whose old
    files are kept aside; the steps declare those files (Step.files_read) and the execute phase
    fetches them from the backend first."""
    spec = write_spec(tmp_path / "generating", generate=True)
    backend = f"file://{tmp_path / 'store'}"
    assert make_pipeline(spec, backend=backend).apply(auto_approve=True).ok
    outputs = spec.parent / "outputs"
    first = {p.name: p.read_bytes() for p in (outputs / "places").glob("*.png")}
    assert sorted(first) == ["beach-seed1.png", "city-seed1.png"]
    shutil.rmtree(outputs)
    shutil.rmtree(spec.parent / ".bria")

    plan = make_pipeline(spec, backend=backend).plan(replace=["model.lucy-lora"])
    assert {a.address: a.step.files_read(lambda key: None) for a in plan.changes if a.address.startswith("gen")} == {
        "generation.places[beach-seed1]": ("places/beach-seed1.png",),
        "generation.places[city-seed1]": ("places/city-seed1.png",)}
    assert make_pipeline(spec, backend=backend).apply(replace=["model.lucy-lora"], auto_approve=True).ok
    kept = {p.name.split(".")[0] + ".png": p.read_bytes() for p in (outputs / "places").glob("*.*.png")}
    assert kept == first  # the old files, fetched and kept aside under names of their own


def test_apply_commits_while_it_runs_only_to_a_backend(make_pipeline, tmp_path: Path) -> None:
    local: Workspace = make_pipeline().workspace
    assert syncing(local.state()) is None and syncing(None) is None
    ws: Workspace = make_pipeline(backend=f"file://{tmp_path / 'store'}").workspace
    ws.locate()
    copy = syncing(ws.state())
    assert copy is not None and copy.manifest_signature() == ()  # no generation: no manifest files to watch
