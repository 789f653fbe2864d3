"""Carry out a plan: every step once its dependencies are done, independent ones concurrently.

    result = await execute(plan, run)

- Every step is dispatched the same way: the handler registered for its type (apply/handlers.py)
  is called with the run bound to it, `await handler(run.at(action), step)`.
- Each step starts when the steps it depends on (in this plan) succeeded; one failure skips
  only what depends on it. At most `concurrency` requests are in flight (uploads, captions,
  generations); a step type whose CONCURRENCY is "wait" (captions, training) holds no slot.
- A step whose long job outlives the wait (StillRunning: --no-wait, --timeout, a training or a
  generation request alike) ends `running`; what depends on it is `deferred` to the next apply.
- Generation outputs, structured prompts and videos are steps like any other: an output of a
  model starts the moment that model's training is done, whatever other trainings still run.
- Progress is recorded after every step: remote ids and intents in `.bria/`, pins in the lock file,
  generation requests in the output manifest's journal, all atomically. Everything else is on the
  service itself, found again by listing.
- Ctrl-C cancels the tasks; what finished is recorded, the next apply re-reads and continues.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .. import addresses
from ..api.errors import ApiError
from ..errors import BriaPipelineError
from ..reports.gallery import gallery_title, model_parameters, write_gallery
from ..state.manifest import Manifest
from ..generate.outputs import ModelRef
from .relocate import move_outputs
from ..plan.actions import Action
from ..plan.document import Plan
from ..plan.steps import GenerationSummary
from . import caption_steps, dataset_steps, model_steps, output_steps, project_steps  # noqa: F401  (they register their handlers)
from .context import GenerationState, Run
from .errors import ApplyError, StillRunning
from .handlers import check_handled, handler_for
from .output_steps import sweep_own_partial_files
from .result import ApplyResult, Done, Outcome, StepResult, StepStatus

check_handled()

GENERATION = "generation"  # the address progress over all generation steps is reported under
_EVENTS = {"done": "end", "running": "running", "deferred": "running", "failed": "fail", "skipped": "skip"}


def is_generation(action: Action) -> bool:
    return action.step is not None and action.step.GENERATION


async def execute(plan: Plan, run: Run) -> ApplyResult:
    started = time.monotonic()
    before = run.client.stats.as_dict()
    steps = [a for a in plan.actions if a.is_change]
    result = ApplyResult(operation=plan.operation)
    outcome: dict[str, str] = {}
    events = {a.address: asyncio.Event() for a in steps}
    slots = asyncio.Semaphore(max(1, run.options.concurrency))
    if run.outputs is None:
        run.outputs = _open_outputs(run, plan)
    outputs = run.outputs
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
            step = action.step
            handler = handler_for(step) if step is not None else None
            if step is None or handler is None:
                _finish(action, "failed", f"no step knows how to carry out {step!r}")
                return
            if step.GENERATION:
                if outputs is not None:
                    outputs.models.update(models.trained_since())
            else:
                run.report("begin", action.address, action.reason)
            if step.CONCURRENCY == "wait":
                done = await handler(run.at(action), step)
            else:
                async with slots:
                    done = await handler(run.at(action), step)
            _finish(action, "done", done)
        except StillRunning as exc:
            _finish(action, "running", exc.describe(), exc)
        except (ApiError, BriaPipelineError) as exc:
            _finish(action, "failed", exc.describe(), exc)
        except OSError as exc:
            _finish(action, "failed", str(exc))
        finally:
            events[action.address].set()

    def _finish(action: Action, status: StepStatus, done: Outcome, exc: Exception | None = None) -> None:
        nonlocal generation_done
        message = done.message if isinstance(done, Done) else done
        outcome[action.address] = status
        waits_on = action.step.WAITS_ON if action.step is not None and status == "running" else ""
        result.steps.append(StepResult(action.address, status, message, waits_on))
        run.report(_EVENTS[status], action.address, message)
        if is_generation(action):
            if outputs is not None:
                report = outputs.report
                if isinstance(done, Done) and done.tally is not None:
                    getattr(report, done.tally).append(action.address)
                if status in ("failed", "skipped"):
                    getattr(report, status).append((action.address, message))
                if isinstance(exc, ApplyError) and exc.REPORTED_AS is not None:
                    getattr(report, exc.REPORTED_AS).append(action.address)
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
            report = outputs.report
            report.billed_requests, report.sent_requests = outputs.accepted, outputs.posts
            report.paid_again = list(outputs.paid_again)
            report.elapsed = time.monotonic() - started
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


def _open_outputs(run: Run, plan: Plan) -> GenerationState | None:
    """The generation state of this apply (the output manifest, the lock's structured prompt pins),
    when the plan has generation steps."""
    generation = run.desired.generation
    if generation is None or not any(is_generation(a) for a in plan.actions):
        return None
    manifest = run.observed.manifest or Manifest.load(generation.output_dir)
    kw = run.options.wait_kw(600.0, interval=min(run.options.poll_interval, 1.0))
    return GenerationState(
        manifest=manifest,
        output_dir=generation.output_dir,
        lock_pins=run.lock.structured_prompt_texts(),
        wait_timeout=kw["timeout"],
        poll_interval=kw["interval"],
        max_poll_interval=min(kw["max_interval"], 10.0),
    )


async def _prepare(outputs: GenerationState, plan: Plan) -> None:
    """Outputs found at the old default folder move here first (no request); temp files a killed
    run left behind go."""
    if outputs.manifest.moving_to is not None:
        summary = _summary(plan)
        await asyncio.to_thread(move_outputs, outputs.manifest, summary.spec if summary else "")
    await asyncio.to_thread(sweep_own_partial_files, outputs.output_dir)


def _summary(plan: Plan) -> GenerationSummary | None:
    return next((a.step for a in plan.actions if isinstance(a.step, GenerationSummary)), None)


def _mark_current(outputs: GenerationState, plan: Plan) -> None:
    summary = _summary(plan)
    if summary is not None:
        outputs.manifest.mark_current(summary.desired, spec=summary.spec, models=summary.models)


class _ModelRefs:
    """Each spec model's remote name and, once trained (before this apply or by it), its id."""

    def __init__(self, run: Run, plan: Plan, outcome: dict[str, str]) -> None:
        self.run, self.outcome = run, outcome
        self.observed = {m.id: m for m in run.observed.models}
        self.planned: dict[str, str] = {}  # model key -> the remote name the plan gives it
        for action in plan.actions:
            named = action.step.names_model() if action.step is not None else None
            if named is not None:
                self.planned[named[0]] = named[1]

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


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    ops_before = before.get("operations", {})
    ops = {k: v - ops_before.get(k, 0) for k, v in after.get("operations", {}).items() if v - ops_before.get(k, 0)}
    out = {k: after[k] - before.get(k, 0) for k in ("total", "mutating", "reading", "retries", "readbacks", "adopted")}
    out["operations"] = ops
    return out
