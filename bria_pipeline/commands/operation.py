"""The operation apply and destroy carry out, one phase at a time, each a method returning a typed value:

    observe   open the state (into the working copy), a client, and look at the remote  -> Session
    plan      make the plan, or check the saved one is still fresh; file facts that
              proved stale are hashed again (a fresh plan is made again, a saved one refused) -> Planned
    check     refuse what cannot run here, add the state's notes (commands/checks.py), ask
              (`on_plan`), enforce approval (commands/approval.py)             -> Plan | None
    execute   record where the state lives, fetch the files the plan reads, run the plan's
              steps, committing to the backend as they go                              -> ApplyResult
    persist   end the apply in the state, tidy the lock file, push the state           -> ApplyResult

`plan` reads only: it also serves `plan` and `plan --destroy` (commands/plan.py). refresh and import
write the state without a plan: they persist through `OpenState.persist` (commands/workspace.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from ..apply.context import RemoteIndex, Run
from ..apply.executor import execute
from ..apply.file_check import stale_images
from ..apply.progress import ProgressCallback
from ..apply.result import ApplyResult, StepResult
from ..lockfile import Lock, caption_key, save_lock
from ..plan.document import Plan, check_fresh
from ..plan.errors import StalePlanError
from ..plan.planner import plan as make_plan
from ..plan.planner import plan_destroy
from ..state import lineage
from ..state.errors import StateError
from ..state.lock import StateLock
from ..state.manager import StateManager
from ..state.manifest import Manifest
from ..state.remote_lock import RemoteLock
from ..state.store import StateStore
from . import approval
from .checks import apply_options, refuse_what_cannot_run, state_notes
from .approval import Operation as OperationKind
from .workspace import Session, Workspace

PlanDecision = Callable[[Plan], "bool | None"]  # on_plan: False cancels, True approves, None goes on
SYNC_SECONDS = 0.2  # how often apply looks for changes to commit: billed answers reach the backend within a second


@dataclass(frozen=True)
class Planning:
    """What to plan: a destroy, or an apply (`prune`, `targets`, `replace`: planner.plan); `saved`:
    a plan saved with `plan --out`, checked instead of planning afresh."""

    operation: OperationKind = "apply"
    saved: Plan | None = None
    prune: bool = False
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()


@dataclass(frozen=True)
class Planned:
    """The plan phase's result: the plan, the workspace it was made on (its spec read again when
    file facts proved stale), and those stale files."""

    plan: Plan
    ws: Workspace
    stale: tuple[str, ...] = ()


async def plan_phase(ws: Workspace, seen: Session, planning: Planning) -> Planned:
    """The plan against what `seen` observed, or the saved plan checked fresh. Where an apply plan
    reads files, they are hashed again: when the file-facts cache was wrong the files win, before
    any request (a saved plan is refused; a fresh one is made again from the spec read afresh)."""
    desired, saved = ws.desired, planning.saved
    if saved is not None:
        check_fresh(saved, source_hash=desired.source_hash, observed_hash=seen.observed.fingerprint(),
                    lock_hash=seen.lock.fingerprint(), text_hash=desired.text_hash, files_hash=desired.files_hash)
        plan = saved
    elif planning.operation == "destroy":
        return Planned(ws.as_given(plan_destroy(desired, seen.observed, seen.lock)), ws)
    else:
        plan = _fresh(ws, seen, planning)
    stale = tuple(await asyncio.to_thread(stale_images, desired, plan)) if planning.operation == "apply" else ()
    if not stale:
        return Planned(plan, ws)
    if saved is not None:
        raise StalePlanError(f"the saved plan is stale: {_listed(stale)} not what the plan was made from",
                             hint=f"review a new plan: bria-pipeline plan {saved.spec_path} --out plan.json")
    ws = dataclasses.replace(ws, desired=ws.reload())
    return Planned(_fresh(ws, seen, planning), ws, stale)


def _fresh(ws: Workspace, seen: Session, planning: Planning) -> Plan:
    return ws.as_given(make_plan(ws.desired, seen.observed, seen.lock, prune=planning.prune,
                                 targets=planning.targets, replace=planning.replace))


@dataclass
class Operation:
    """apply or destroy on one workspace, under its apply lock (`run_lock`), phase by phase."""

    ws: Workspace
    planning: Planning
    run_lock: StateLock | RemoteLock
    auto_approve: bool = False
    wait: bool = True
    timeout: float | None = None
    on_progress: ProgressCallback | None = None
    on_plan: PlanDecision | None = None

    @property
    def kind(self) -> OperationKind:
        return self.planning.operation

    async def run(self) -> ApplyResult:
        async with self.observe() as seen:
            planned = await self.plan(seen)
            plan = self.check(planned, seen)
            if plan is None:
                return ApplyResult(operation=self.kind, notes=["cancelled: nothing was changed"], cancelled=True)
            result = await self.execute(planned, plan, seen)
        return await self.persist(planned.ws, plan, seen, result)

    def observe(self) -> AbstractAsyncContextManager[Session]:
        """The state taken into .bria/ (a writer's), a client, what exists (dataset images for apply)."""
        return self.ws.observing(images=self.kind == "apply", write_local=True, timeout=self.timeout)

    async def plan(self, seen: Session) -> Planned:
        """The state stamped as this spec's, then the plan (or the saved one checked)."""
        lineage.stamp(seen.store, self.ws.desired, self.ws.identity, self.ws.backend_key)
        seen.store.save()
        return await plan_phase(self.ws, seen, self.planning)

    def check(self, planned: Planned, seen: Session) -> Plan | None:
        """What cannot run here refused, the state's notes added, then approval: None when `on_plan`
        cancelled; ApprovalRequired when paid work would go unapproved."""
        ws = planned.ws
        refuse_what_cannot_run(ws, planned.plan, seen.client)
        plan = state_notes(ws, planned.plan)
        decision = self.on_plan(plan) if self.on_plan is not None else None
        if decision is False:
            return None
        approval.require(plan, approved=self.auto_approve or decision is True)
        return plan

    async def execute(self, planned: Planned, plan: Plan, seen: Session) -> ApplyResult:
        """Carry the steps out, committing the state to the backend as it changes; Ctrl-C persists
        what finished before the lock is released."""
        ws, store, copy, observed = planned.ws, seen.store, seen.copy, seen.observed
        ws.record_state(seen.lock, store)  # where the state lives, in the committed lock file (state/locate.py)
        if copy is not None and observed.manifest is not None:
            copy.fetch(files_needed(plan, observed.manifest))  # from the backend: none are missing locally
        run = Run(seen.client, ws.desired, store, seen.lock, ws.lock_path, RemoteIndex(plan.bindings, observed, ws.desired),
                  apply_options(ws, seen.client, wait=self.wait, timeout=self.timeout), self.on_progress, observed)
        store.start_apply(self.kind)
        synced = syncing(copy)
        task = asyncio.ensure_future(_keep_synced(synced, store)) if synced is not None else None
        try:
            result = await execute(plan, run)
        except asyncio.CancelledError:
            store.end_apply("interrupted")
            if copy is not None:
                if task is not None:
                    task.cancel()
                try:
                    await asyncio.to_thread(copy.push, store)
                except StateError:
                    pass  # kept in the working copy: the next apply from it pushes
            raise
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if planned.stale:
            result.notes.append(f"{_listed(planned.stale)} hashed again: the file-facts cache disagreed with the "
                                "file, and the file was used")
        result.requests = seen.requests()  # observing included
        return result

    async def persist(self, ws: Workspace, plan: Plan, seen: Session, result: ApplyResult) -> ApplyResult:
        """The apply ended in the state, the lock file's unused pins dropped (a full apply), the
        state pushed where it lives (unless the backend lock was taken away)."""
        store, copy = seen.store, seen.copy
        status = "ok" if result.ok else "failed"
        if result.ok and result.still_running:
            status = "running"
        store.end_apply(status, result.summary())
        if self.kind == "apply" and result.ok and not self.planning.targets and not plan.targets:
            tidy_lock(ws, seen.lock)
        if copy is None:
            return result
        if isinstance(self.run_lock, RemoteLock) and self.run_lock.lost:
            result.notes.append("the backend lock was forced away during this run: nothing was pushed; "
                                "this run's work is kept in the working copy")
            return result
        try:
            await asyncio.to_thread(copy.push, store)
        except StateError as exc:
            result.steps.append(StepResult("backend", "failed", f"{exc.describe()}; this run's state and outputs "
                                           "are kept in the working copy: the next apply pushes them"))
        return result


class SyncedCopy(Protocol):
    """A state manager that persists while apply runs (a backend's working copy: `syncs`)."""

    def push(self, store: StateStore, *, gallery: bool = True, with_outputs: bool = True) -> bool: ...

    def manifest_signature(self) -> Hashable: ...


def syncing(copy: StateManager | None) -> SyncedCopy | None:
    """`copy` when apply should commit to it while it runs (it `syncs`), else None."""
    if copy is None or not copy.syncs:
        return None
    from ..state.locate import LocatingCopy

    assert isinstance(copy, LocatingCopy)  # the state manager that syncs: a backend's working copy
    return copy


async def _keep_synced(copy: SyncedCopy, store: StateStore) -> None:
    """While apply runs: commit state and manifest changes (and the files they name) as they
    happen, so a runner lost mid-apply leaves its request ids and outputs in the backend. Each
    commit costs what changed since the last one; a run that only waits (a long training) sends
    nothing."""
    last: tuple[str, Hashable] | None = None
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
    """Output files the plan's steps read or move (`Step.files_read`): fetched from the backend
    when the working copy lacks them."""

    def file_of(key: str) -> str | None:
        record = manifest.get(key)
        return record.file if record is not None else None

    files = [f for a in plan.actions if a.is_change and a.step is not None for f in a.step.files_read(file_of)]
    return [f for f in files if f in manifest.files and not manifest.files[f].local]


def _listed(keys: tuple[str, ...]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


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
