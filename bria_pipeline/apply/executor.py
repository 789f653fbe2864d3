"""Carry out a plan: every action once its dependencies are done, independent ones concurrently.

    result = await execute(plan, run)

- Each action starts when the actions it depends on (in this plan) succeeded; one failure skips
  only what depends on it. At most `concurrency` requests are in flight (uploads, captions);
  long waits (captions, training) do not hold a slot.
- Progress is recorded after every step: remote ids and intents in `.bria/`, pins in the lock file,
  both atomically. Everything else is on the service itself, found again by listing.
- Generation outputs run last, through `generate.runner.run_generation`, with the models trained
  so far; outputs waiting for a training still in progress (--no-wait) are left for the next apply.
- Ctrl-C cancels the tasks; what finished is recorded, the next apply re-reads and continues.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ..api.errors import ApiError
from ..errors import BriaPipelineError
from ..generate.gallery import gallery_title, write_gallery
from ..generate.manifest import Manifest
from ..generate.outputs import ModelRef
from ..generate.runner import run_generation
from ..plan.actions import Action
from ..plan.document import Plan
from . import caption_steps, dataset_steps, model_steps, project_steps
from .context import Run
from .model_steps import StillRunning
from .result import ApplyResult, StepResult

Handler = Callable[[Run, Action], Awaitable[str]]

HANDLERS: dict[str, Handler] = {
    "create_project": project_steps.create_project,
    "update_project": project_steps.update_project,
    "replace_project": project_steps.replace_project,
    "delete_project": project_steps.delete_project,
    "create_dataset": dataset_steps.create_dataset,
    "clone_dataset": dataset_steps.clone_dataset,
    "rename_dataset": dataset_steps.rename_dataset,
    "delete_dataset": dataset_steps.delete_dataset,
    "visual_schema": dataset_steps.visual_schema,
    "upload_image": dataset_steps.upload_image,
    "delete_image": dataset_steps.delete_image,
    "bulk_upload": dataset_steps.bulk_upload,
    "wait_bulk": dataset_steps.bulk_upload,
    "complete_dataset": dataset_steps.complete_dataset,
    "captions": caption_steps.captions,
    "caption": caption_steps.caption,
    "create_model": model_steps.create_model,
    "update_model": model_steps.update_model,
    "start_training": model_steps.start_training,
    "wait_training": model_steps.wait_training,
    "delete_model": model_steps.delete_model,
}
# Steps that wait on the service rather than send work: they do not take a concurrency slot.
WAITING = frozenset({"wait_training", "start_training", "captions", "wait_bulk", "bulk_upload", "delete_model"})


def is_generation(action: Action) -> bool:
    return "job" in action.payload


async def execute(plan: Plan, run: Run) -> ApplyResult:
    started = time.monotonic()
    before = run.client.stats.as_dict()
    steps = [a for a in plan.actions if a.is_change and not is_generation(a)]
    generation = [a for a in plan.actions if is_generation(a)]
    result = ApplyResult(operation=plan.operation)
    outcome: dict[str, str] = {}
    events = {a.address: asyncio.Event() for a in steps}
    slots = asyncio.Semaphore(max(1, run.options.concurrency))
    total = len(steps) + len([a for a in generation if a.is_change])
    run.report("plan", "", plan.summary_line(), 0, total)

    async def one(action: Action) -> None:
        try:
            for dep in action.depends_on:
                if dep in events:
                    await events[dep].wait()
                    if outcome.get(dep) in ("running", "deferred"):
                        _finish(action, "deferred", f"waits for {dep}, still running: the next apply carries it out")
                        return
                    if outcome.get(dep) != "done":
                        _finish(action, "skipped", f"{dep} did not complete")
                        return
            handler = HANDLERS.get(action.payload.get("op", ""))
            if handler is None:
                _finish(action, "failed", f"no step knows how to carry out {action.payload.get('op')!r}")
                return
            run.report("begin", action.address, action.reason)
            if action.payload.get("op") in WAITING:
                message = await handler(run, action)
            else:
                async with slots:
                    message = await handler(run, action)
            _finish(action, "done", message)
        except StillRunning as exc:
            _finish(action, "running", str(exc))
        except (ApiError, BriaPipelineError) as exc:
            _finish(action, "failed", exc.describe())
        finally:
            events[action.address].set()

    def _finish(action: Action, status: str, message: str) -> None:
        outcome[action.address] = status
        result.steps.append(StepResult(action.address, status, message))
        kind = {"done": "end", "running": "running", "deferred": "running", "failed": "fail", "skipped": "skip"}[status]
        run.report(kind, action.address, message)

    try:
        await asyncio.gather(*(one(a) for a in steps))
        if generation and run.desired.generation is not None:
            result.generation = await _generate(run, plan, generation, outcome, result)
    finally:
        result.requests = _delta(before, run.client.stats.as_dict())
        result.elapsed = time.monotonic() - started
    return result


async def _generate(run: Run, plan: Plan, actions: list[Action], outcome: dict[str, str], result: ApplyResult):
    ready: list[Action] = []
    for action in actions:
        blocked = [d for d in action.depends_on if d in outcome and outcome[d] != "done"]
        if blocked and outcome[blocked[0]] in ("running", "deferred"):
            message = f"waits for {blocked[0]}, still running: the next apply carries it out"
            result.steps.append(StepResult(action.address, "deferred", message))
            run.report("running", action.address, message)
            continue
        if blocked:
            result.steps.append(StepResult(action.address, "skipped", f"{blocked[0]} did not complete"))
            run.report("skip", action.address, f"{blocked[0]} did not complete")
            continue
        ready.append(action)
    if not ready:
        return None
    generation = run.desired.generation
    assert generation is not None
    manifest = run.observed.manifest or Manifest.load(generation.output_dir)
    pins = run.lock.structured_prompt_texts()
    known = dict(pins)
    report = await run_generation(
        ready,
        run.client,
        manifest,
        generation.output_dir,
        concurrency=max(1, run.options.concurrency),
        on_progress=lambda done, total: run.report("advance", "generation", "outputs", done, total),
        lock_pins=pins,
        models=_model_refs(run, plan, outcome),
        **_generation_waits(run),
    )
    new = {h: t for h, t in pins.items() if known.get(h) != t}
    if new:
        specs = {r.structured_prompt.inputs_hash: r.structured_prompt for r in generation.images if r.structured_prompt}
        for h, text in new.items():
            if h in specs:
                run.lock.pin_structured_prompt(specs[h], text)
            else:
                run.lock.structured_prompts[h] = {"structured_prompt": text}
        run.save_lock()
    steps = [StepResult(address, "failed", message) for address, message in report.failed]
    steps += [StepResult(address, "skipped", message) for address, message in report.skipped]
    steps += [StepResult(address, "done", "generated") for address in report.generated + report.resumed]
    steps += [StepResult(address, "done", "pinned in the lock file (no request)") for address in report.pinned]
    steps += [StepResult(address, "done", "deleted (a local output; nothing remote exists)") for address in report.deleted]
    steps += [StepResult(address, "done", "its kept file took its name back (no request)") for address in report.restored]
    steps += [StepResult(address, "running", "request still running: the next apply collects it") for address in report.still_running]
    kinds = {"done": "end", "failed": "fail", "skipped": "skip", "running": "running"}
    for step in steps:
        result.steps.append(step)
        run.report(kinds[step.status], step.address, step.message)
    try:
        write_gallery(generation.output_dir, manifest, title=gallery_title(run.desired.project.name, run.desired.spec_path))
    except (OSError, BriaPipelineError) as exc:
        result.notes.append(f"the gallery could not be written: {exc}")
    result.notes.extend(report.notes)
    return report


def _model_refs(run: Run, plan: Plan, outcome: dict[str, str]) -> dict[str, ModelRef]:
    refs = {}
    observed = {m.id: m for m in run.observed.models}
    planned = {}
    for action in plan.actions:
        op = action.payload.get("op")
        if op == "create_model":
            planned[action.payload["model"]] = action.payload["name"]
        elif op == "update_model" and "name" in action.payload.get("body", {}):
            planned[action.payload["model"]] = action.payload["body"]["name"]
    for key, model in run.desired.models.items():
        address = f"model.{key}"
        model_id = run.index.ids.get(address)
        if model_id is None:
            continue
        trained = outcome.get(f"{address}.training") == "done" or (
            f"{address}.training" not in outcome and observed.get(model_id) is not None and observed[model_id].status == "Completed"
        )
        name = planned.get(key) or (observed[model_id].name if model_id in observed else "")
        refs[key] = ModelRef(remote_name=name, remote_id=str(model_id) if trained else None, version=model.checkpoint)
    return refs


def _generation_waits(run: Run) -> dict[str, float]:
    kw = run.options.wait_kw(600.0, interval=min(run.options.poll_interval, 1.0))
    return {"wait_timeout": kw["timeout"], "poll_interval": kw["interval"], "max_poll_interval": min(kw["max_interval"], 10.0)}


def _delta(before: dict, after: dict) -> dict:
    ops_before = before.get("operations", {})
    ops = {k: v - ops_before.get(k, 0) for k, v in after.get("operations", {}).items() if v - ops_before.get(k, 0)}
    out = {k: after[k] - before.get(k, 0) for k in ("total", "mutating", "reading", "retries", "readbacks", "adopted")}
    out["operations"] = ops
    return out
