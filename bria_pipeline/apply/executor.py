"""Carry out a plan: every step once its dependencies are done, independent ones concurrently.

    result = await execute(plan, run)

- Each step starts when the steps it depends on (in this plan) succeeded; one failure skips
  only what depends on it. At most `concurrency` requests are in flight (uploads, captions,
  generations); long waits (captions, training) do not hold a slot.
- Generation outputs, structured prompts and videos are steps like any other: an output of a
  model starts the moment that model's training is done, whatever other trainings still run.
  Outputs waiting for a training still in progress (--no-wait) are left for the next apply.
- Progress is recorded after every step: remote ids and intents in `.bria/`, pins in the lock file,
  generation requests in the output manifest's journal, all atomically. Everything else is on the
  service itself, found again by listing.
- Ctrl-C cancels the tasks; what finished is recorded, the next apply re-reads and continues.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .. import addresses
from ..api.errors import ApiError
from ..errors import BriaPipelineError
from ..reports.gallery import gallery_title, model_parameters, write_gallery
from ..state.manifest import Manifest
from ..generate.outputs import ModelRef
from .relocate import move_outputs
from ..plan.actions import Action
from ..plan.document import Plan
from ..plan.steps import (
    GENERATION_STEPS,
    BulkUpload,
    Caption,
    Captions,
    CloneDataset,
    CompleteDataset,
    CreateDataset,
    DeleteDataset,
    DeleteImage,
    RenameDataset,
    UploadImage,
    VisualSchema,
    WaitBulk,
    CreateModel,
    CreateProject,
    DeleteModel,
    DeleteProject,
    GenerationSummary,
    ReplaceProject,
    StartTraining,
    StructuredPrompt,
    UpdateModel,
    UpdateProject,
    WaitTraining,
)
from . import caption_steps, dataset_steps, model_steps, output_steps, project_steps
from .context import Run
from .model_steps import StillRunning
from .output_steps import JobContext, sweep_own_partial_files
from .result import ApplyResult, StepResult

Handler = Callable[[Run, Action], Awaitable[str]]

# Every step has a type (plan/steps.py); generation steps go to output_steps.carry_out.
STEP_HANDLERS: dict[type, Handler] = {
    CreateDataset: dataset_steps.create_dataset,
    CloneDataset: dataset_steps.clone_dataset,
    RenameDataset: dataset_steps.rename_dataset,
    DeleteDataset: dataset_steps.delete_dataset,
    VisualSchema: dataset_steps.visual_schema,
    UploadImage: dataset_steps.upload_image,
    DeleteImage: dataset_steps.delete_image,
    BulkUpload: dataset_steps.bulk_upload,
    WaitBulk: dataset_steps.bulk_upload,
    CompleteDataset: dataset_steps.complete_dataset,
    Captions: caption_steps.captions,
    Caption: caption_steps.caption,
    CreateProject: project_steps.create_project,
    UpdateProject: project_steps.update_project,
    ReplaceProject: project_steps.replace_project,
    DeleteProject: project_steps.delete_project,
    CreateModel: model_steps.create_model,
    UpdateModel: model_steps.update_model,
    StartTraining: model_steps.start_training,
    WaitTraining: model_steps.wait_training,
    DeleteModel: model_steps.delete_model,
}
# Steps that wait on the service rather than send work: they do not take a concurrency slot.
WAITING = frozenset({Captions, WaitBulk, BulkUpload, WaitTraining, StartTraining, DeleteModel})
GENERATION = "generation"  # the address progress over all generation steps is reported under


def is_generation(action: Action) -> bool:
    return isinstance(action.step, GENERATION_STEPS)


async def execute(plan: Plan, run: Run) -> ApplyResult:
    started = time.monotonic()
    before = run.client.stats.as_dict()
    steps = [a for a in plan.actions if a.is_change]
    result = ApplyResult(operation=plan.operation)
    outcome: dict[str, str] = {}
    events = {a.address: asyncio.Event() for a in steps}
    slots = asyncio.Semaphore(max(1, run.options.concurrency))
    outputs = run.outputs if run.outputs is not None else _open_outputs(run, plan)
    generation_total = sum(1 for a in steps if is_generation(a))
    generation_done = 0
    models = _ModelRefs(run, plan, outcome)
    if outputs is not None:
        result.generation = outputs.report
    run.report("plan", "", plan.summary_line(), 0, len(steps))

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
            if is_generation(action):
                if outputs is None:
                    _finish(action, "failed", "the spec has no generation section to carry this step out in")
                    return
                outputs.models.update(models.trained_since())
                async with slots:
                    message = await output_steps.carry_out(outputs, action)
                if isinstance(action.step, StructuredPrompt):
                    _pin(run, outputs, action.step.inputs_hash)
                _finish(action, "done", message)
                return
            handler = STEP_HANDLERS.get(type(action.step))
            if handler is None:
                _finish(action, "failed", f"no step knows how to carry out {action.step!r}")
                return
            run.report("begin", action.address, action.reason)
            if type(action.step) in WAITING:
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
        nonlocal generation_done
        outcome[action.address] = status
        result.steps.append(StepResult(action.address, status, message))
        kind = {"done": "end", "running": "running", "deferred": "running", "failed": "fail", "skipped": "skip"}[status]
        run.report(kind, action.address, message)
        if is_generation(action):
            if outputs is not None and status in ("failed", "skipped"):
                getattr(outputs.report, status).append((action.address, message))
            generation_done += 1
            run.report("advance", GENERATION, "outputs", generation_done, generation_total)

    try:
        if outputs is not None:
            await _prepare(outputs, plan)
            if generation_total:
                run.report("advance", GENERATION, "outputs", 0, generation_total)
        await asyncio.gather(*(one(a) for a in steps))
        if outputs is not None:
            _mark_current(outputs, plan)
    finally:
        if outputs is not None:
            outputs.report.elapsed = time.monotonic() - started
            outputs.manifest.save()
        result.requests = _delta(before, run.client.stats.as_dict())
        result.elapsed = time.monotonic() - started
    if outputs is not None:
        try:
            write_gallery(outputs.output_dir, outputs.manifest,
                          title=gallery_title(run.desired.project.name, run.desired.spec_path),
                          decisions=run.desired.decisions,
                          model_params=model_parameters(run.desired, run.observed.models))
        except (OSError, BriaPipelineError) as exc:
            result.notes.append(f"the gallery could not be written: {exc}")
        result.notes.extend(outputs.report.notes)
    return result


def _open_outputs(run: Run, plan: Plan) -> JobContext | None:
    """The generation state of this apply (the output manifest, the lock's structured prompt pins),
    when the plan has generation steps."""
    generation = run.desired.generation
    if generation is None or not any(isinstance(a.step, (*GENERATION_STEPS, GenerationSummary)) for a in plan.actions):
        return None
    manifest = run.observed.manifest or Manifest.load(generation.output_dir)
    kw = run.options.wait_kw(600.0, interval=min(run.options.poll_interval, 1.0))
    return JobContext(
        client=run.client,
        manifest=manifest,
        output_dir=generation.output_dir,
        lock_pins=run.lock.structured_prompt_texts(),
        wait_timeout=kw["timeout"],
        poll_interval=kw["interval"],
        max_poll_interval=min(kw["max_interval"], 10.0),
    )


async def _prepare(outputs: JobContext, plan: Plan) -> None:
    """Outputs found at the old default folder move here first (no request); temp files a killed
    run left behind go."""
    if outputs.manifest.moving_to is not None:
        summary = _summary(plan)
        await asyncio.to_thread(move_outputs, outputs.manifest, summary.spec if summary else "")
    await asyncio.to_thread(sweep_own_partial_files, outputs.output_dir)


def _summary(plan: Plan) -> GenerationSummary | None:
    return next((a.step for a in plan.actions if isinstance(a.step, GenerationSummary)), None)


def _mark_current(outputs: JobContext, plan: Plan) -> None:
    summary = _summary(plan)
    if summary is not None:
        outputs.manifest.mark_current(summary.desired, spec=summary.spec, models=summary.models)


def _pin(run: Run, outputs: JobContext, inputs_hash: str) -> None:
    """A structured prompt's text goes into the lock file the moment it is known."""
    text = outputs.lock_pins.get(inputs_hash)
    if text is None or run.lock.structured_prompt_texts().get(inputs_hash) == text:
        return
    generation = run.desired.generation
    spec = next((r.structured_prompt for r in (generation.images if generation else ())
                 if r.structured_prompt and r.structured_prompt.inputs_hash == inputs_hash), None)
    if spec is not None:
        run.lock.pin_structured_prompt(spec, text)
    else:
        run.lock.structured_prompts[inputs_hash] = {"structured_prompt": text}
    run.save_lock()


class _ModelRefs:
    """Each spec model's remote name and, once trained (before this apply or by it), its id."""

    def __init__(self, run: Run, plan: Plan, outcome: dict[str, str]) -> None:
        self.run, self.outcome = run, outcome
        self.observed = {m.id: m for m in run.observed.models}
        self.planned: dict[str, str] = {}
        for action in plan.actions:
            step = action.step
            if isinstance(step, CreateModel):
                self.planned[step.model] = step.name
            elif isinstance(step, UpdateModel) and "name" in step.changes:
                self.planned[step.model] = step.changes["name"]

    def trained_since(self) -> dict[str, ModelRef]:
        refs = {}
        for key, model in self.run.desired.models.items():
            model_id = self.run.index.ids.get(addresses.model(key))
            if model_id is None:
                continue
            seen = self.observed.get(model_id)
            training = addresses.training(key)
            trained = self.outcome.get(training) == "done" or (
                training not in self.outcome and seen is not None and seen.status == "Completed"
            )
            name = self.planned.get(key) or (seen.name if seen is not None else "")
            refs[key] = ModelRef(remote_name=name, remote_id=str(model_id) if trained else None, version=model.checkpoint)
        return refs


def _delta(before: dict, after: dict) -> dict:
    ops_before = before.get("operations", {})
    ops = {k: v - ops_before.get(k, 0) for k, v in after.get("operations", {}).items() if v - ops_before.get(k, 0)}
    out = {k: after[k] - before.get(k, 0) for k in ("total", "mutating", "reading", "retries", "readbacks", "adopted")}
    out["operations"] = ops
    return out
