"""`apply` and `destroy`: carry a plan out under the apply lock, recording progress as it goes.

A saved plan is refused when it went stale; otherwise the plan is made afresh from what is observed
under the lock. `on_plan(plan)` sees the plan before anything is sent: False cancels, True approves,
None goes on without approving. Deleting or superseding paid work needs approval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any, Literal

from ..apply.context import RemoteIndex, Run
from ..apply.errors import ApprovalRequired
from ..apply.executor import execute
from ..apply.file_check import stale_images
from ..apply.progress import ProgressCallback
from ..apply.result import ApplyResult, StepResult
from ..lockfile import Lock, caption_key, save_lock
from ..plan.document import Plan, check_fresh
from ..plan.errors import StalePlanError
from ..plan.planner import plan as make_plan
from ..plan.planner import plan_destroy
from ..plan.steps import GENERATION_STEPS, DeleteOutput, RestoreOutput
from ..state import lineage
from ..state.errors import StateError
from ..state.lock import StateLock
from ..state.manifest import Manifest
from ..state.store import StateStore
from ..state.remote_lock import RemoteLock
from .workspace import Workspace

PlanDecision = Callable[[Plan], "bool | None"]


async def carry_out(ws: Workspace, operation: Literal["apply", "destroy"], saved: Plan | None = None, *,
                    auto_approve: bool = False, wait: bool = True, timeout: float | None = None, prune: bool = False,
                    targets: tuple[str, ...] = (), replace: tuple[str, ...] = (),
                    on_progress: ProgressCallback | None = None, on_plan: PlanDecision | None = None) -> ApplyResult:
    """Observe, plan (or check `saved`), ask, execute; `result.requests` counts observing too.
    `replace`: addresses made again although up to date (planner.plan). A saved destroy plan
    (`plan --destroy --out`) is carried out as a destroy, whichever command was given it."""
    if saved is not None and saved.operation == "destroy":
        operation = "destroy"
    with ws.run_lock(operation) as run_lock:
        result = await _locked(ws, operation, saved, run_lock, auto_approve=auto_approve, wait=wait, timeout=timeout,
                               prune=prune, targets=targets, replace=replace, on_progress=on_progress,
                               on_plan=on_plan)
    if isinstance(run_lock, RemoteLock) and run_lock.release_error:  # a local lock always releases
        result.steps.append(StepResult("backend.lock", "failed", (
            f"the lock {run_lock.id} could not be released ({run_lock.release_error}); once the backend answers "
            f"again: bria-pipeline force-unlock {ws.spec_path} {run_lock.id}")))
    if not result.cancelled:
        result.lock_written = True
    return result


async def _locked(ws: Workspace, operation: str, saved: Plan | None, run_lock: StateLock | RemoteLock, *, auto_approve: bool, wait: bool,
                  timeout: float | None, prune: bool, targets: tuple[str, ...], replace: tuple[str, ...],
                  on_progress: ProgressCallback | None, on_plan: PlanDecision | None) -> ApplyResult:
    desired = ws.desired
    async with ws.observing(images=operation == "apply", write_local=True, timeout=timeout) as seen:
        store, lock, observed, copy = seen.store, seen.lock, seen.observed, seen.copy
        lineage.stamp(store, desired, ws.identity, ws.backend_key)
        store.save()
        if saved is not None:
            check_fresh(saved, source_hash=desired.source_hash, observed_hash=observed.fingerprint(),
                        lock_hash=lock.fingerprint(), text_hash=desired.text_hash, files_hash=desired.files_hash)
            plan = saved
        elif operation == "destroy":
            plan = ws.as_given(plan_destroy(desired, observed, lock))
        else:
            plan = ws.as_given(make_plan(desired, observed, lock, prune=prune, targets=targets, replace=replace))
        stale = await asyncio.to_thread(stale_images, desired, plan) if operation == "apply" else []
        if stale:  # the file-facts cache disagreed with the files: they win, before any request
            if saved is not None:
                raise StalePlanError(f"the saved plan is stale: {_listed(stale)} not what the plan was made from",
                                     hint=f"review a new plan: bria-pipeline plan {saved.spec_path} --out plan.json")
            desired = ws.reload()
            ws = dataclasses.replace(ws, desired=desired)
            plan = ws.as_given(make_plan(desired, observed, lock, prune=prune, targets=targets, replace=replace))
        ws.refuse_what_cannot_run(plan, seen.client)
        plan = ws.state_notes(plan)
        decision = on_plan(plan) if on_plan is not None else None
        if decision is False:
            return ApplyResult(operation=operation, notes=["cancelled: nothing was changed"], cancelled=True)
        require_approval(plan, approved=auto_approve or decision is True)
        ws.record_state(lock, store)  # where the state lives, in the committed lock file (state/locate.py)
        if copy is not None and observed.manifest is not None:
            copy.fetch(files_needed(plan, observed.manifest))  # from the backend: none are missing locally
        run = Run(seen.client, desired, store, lock, ws.lock_path, RemoteIndex(plan.bindings, observed, desired),
                  ws.apply_options(seen.client, wait=wait, timeout=timeout), on_progress, observed)
        store.start_apply(operation)
        syncing = asyncio.ensure_future(_keep_synced(copy, store)) if copy is not None and copy.syncs else None
        try:
            result = await execute(plan, run)
        except asyncio.CancelledError:
            store.end_apply("interrupted")
            if copy is not None:  # Ctrl-C: what finished is persisted (to the backend too) before the lock is released
                if syncing is not None:
                    syncing.cancel()
                try:
                    await asyncio.to_thread(copy.push, store)
                except StateError:
                    pass  # kept in the working copy: the next apply from it pushes
            raise
        finally:
            if syncing is not None:
                syncing.cancel()
                await asyncio.gather(syncing, return_exceptions=True)
        if stale:
            result.notes.append(f"{_listed(stale)} hashed again: the file-facts cache disagreed with the "
                                "file, and the file was used")
        result.requests = seen.requests()  # observing included
    status = "ok" if result.ok else "failed"
    if result.ok and result.still_running:
        status = "running"
    store.end_apply(status, result.summary())
    if operation == "apply" and result.ok and not targets and not plan.targets:
        tidy_lock(ws, lock)
    if copy is not None:
        if isinstance(run_lock, RemoteLock) and run_lock.lost:
            result.notes.append("the backend lock was forced away during this run: nothing was pushed; "
                                "this run's work is kept in the working copy")
        else:
            try:
                await asyncio.to_thread(copy.push, store)
            except StateError as exc:
                result.steps.append(StepResult("backend", "failed", f"{exc.describe()}; this run's state and outputs "
                                               "are kept in the working copy: the next apply pushes them"))
    return result


SYNC_SECONDS = 0.2  # how often apply looks for changes to commit: billed answers reach the backend within a second


async def _keep_synced(copy: Any, store: StateStore) -> None:
    """While apply runs: commit state and manifest changes (and the files they name) as they
    happen, so a runner lost mid-apply leaves its request ids and outputs in the backend. Each
    commit costs what changed since the last one; a run that only waits (a long training) sends
    nothing."""
    last: Any = None
    while True:
        await asyncio.sleep(SYNC_SECONDS)
        # a copy taken on the loop's thread (the steps go on changing the original); the
        # manifest is read from the working copy's files, whose journal is written line by line
        state = StateStore(store.path, store.as_data())
        seen = (json.dumps(state.as_data(), sort_keys=True, default=str), copy.manifest_signature())
        if seen == last:
            continue
        try:
            await asyncio.to_thread(copy.push, state, gallery=False)
            last = seen
        except StateError:
            continue  # the end of the run pushes again, and says so if it fails


def files_needed(plan: Plan, manifest: Manifest) -> list[str]:
    """Output files the plan's generation steps read or move (a video's source image, a file kept
    aside or taking its name back): fetched from the backend when the working copy lacks them."""
    files: list[str] = []
    for action in plan.actions:
        step = action.step
        if not action.is_change or not isinstance(step, GENERATION_STEPS):
            continue
        files += [old.file for old in getattr(step, "superseded", ()) if old.file]
        if isinstance(step, (RestoreOutput, DeleteOutput)) and step.file:
            files.append(step.file)
        output = getattr(step, "output", None)
        source = manifest.get(output.source or "") if output is not None else None
        if source is not None and source.file:
            files.append(source.file)
    return [f for f in files if f in manifest.files and not manifest.files[f].local]


def _listed(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def require_approval(plan: Plan, *, approved: bool) -> None:
    """Refuse a plan that deletes or supersedes paid work unless it was approved."""
    if not plan.needs_approval or approved:
        return
    listed = "".join(f"\n  {a.address}" for a in plan.needs_approval)
    outputs = sum(a.address.startswith(("generation.", "video.")) for a in plan.needs_approval)
    paid = ("trained work" if not outputs else "generated outputs (paid work)"
            if outputs == len(plan.needs_approval) else "trained work and generated outputs")
    raise ApprovalRequired(
        f"this plan deletes or supersedes {paid} and needs approval:{listed}",
        hint="review the plan, then apply with --auto-approve (or answer yes at the prompt)",
    )


def tidy_lock(ws: Workspace, lock: Lock) -> None:
    """After a full apply: drop the pins of inputs the spec no longer has."""
    desired = ws.desired
    schemas = {ds.visual_schema.inputs_hash for ds in desired.datasets.values()}
    captions = {caption_key(i, ds.visual_schema) for ds in desired.datasets.values() for i in ds.images if i.caption_refine}
    prompts = set()
    if desired.generation is not None:
        prompts = {r.structured_prompt.inputs_hash for r in desired.generation.images if r.structured_prompt}
    if lock.retain(visual_schemas=schemas, captions=captions, structured_prompts=prompts):
        save_lock(lock, ws.lock_path)
