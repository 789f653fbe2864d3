"""What the check phase (commands/operation.py) adds to a plan before anything is sent, and how its
steps reach this API: `refuse_what_cannot_run` (a staging target or uploader that cannot work
here), `state_notes` (a moved spec, state that is not shared and what that may cost), `staging`
and `apply_options` (what the executor is given). `plan` runs the same checks, so the plan shows
what apply would refuse. Nothing here sends a request or prints.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..api.client import AsyncBriaClient
from ..apply.context import ApplyOptions
from ..bulk.staging import StagingTarget
from ..model import DesiredDataset
from ..plan.document import Plan
from ..plan.errors import PlanError
from ..plan.steps import BulkUpload
from .workspace import Workspace

FAST_POLL = (0.2, 1.0)  # against the sandbox or a local URL: waits are seconds, not hours


def refuse_what_cannot_run(ws: Workspace, plan: Plan, client: AsyncBriaClient) -> None:
    """A step that cannot run against this API (a staging target that cannot work here, or
    whose library is missing) is refused with the plan, before anything is created."""
    from ..bulk.errors import StagingError

    target = staging(ws, client)
    for action in plan.actions:
        dataset = ws.desired.datasets.get(action.step.dataset) if isinstance(action.step, BulkUpload) else None
        if dataset is None or not dataset.staging or dataset.zip_url:
            continue
        try:
            target(dataset)
        except StagingError as exc:
            raise PlanError(f"{action.address} cannot run against {client.api_url}: {exc.message}; nothing was sent",
                            hint=exc.hint) from None
        program = (dataset.staging.upload_command or [""])[0] if dataset.staging.kind == "url_template" else ""
        if program and not runnable(program, ws.spec_path.parent):
            raise PlanError(f"{action.address} cannot run: the staging upload_command {program!r} is not found "
                            f"({'beside the spec' if '/' in program else 'on PATH'}); nothing was sent",
                            hint="install the uploader, or give its path in upload_command")


def runnable(program: str, cwd: Path) -> bool:
    """Whether `program` (an upload_command's first word) can be started from `cwd`: a path is
    taken relative to it, a bare name is looked up on PATH, as the command runs."""
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program) is not None


def state_notes(ws: Workspace, plan: Plan) -> Plan:
    """Where the state was found (a moved spec), and without a backend what is not shared and
    what that may cost."""
    notes = []
    moved_from = ws.found.moved_from
    if moved_from:
        old = Path(moved_from)
        shown = old.parent.as_posix() if old.name == ws.spec_path.name and old.parent.name else moved_from
        located = ws.found.located
        notes.append(f"moved from {shown}: this spec's state was found by its lineage"
                     + (f" at {located.describe()}" if located is not None else f" in {ws.state_dir}")
                     + "; apply records the new path")
    if ws.backend is None:
        billed = sum(1 for a in plan.actions if a.is_change and a.billed and a.step is not None and a.step.GENERATION)
        recorded = None if ws.sandbox else ws.recorded().get("backend")
        if recorded:
            note = (f"WARNING: --no-backend: the state in {recorded}, which {ws.lock_path.name} records, is not "
                    f"read. {billed} billed output(s) in this plan may already have been paid for there, and "
                    f"would be paid again. Drop --no-backend and pass --backend {recorded} to use it.")
        elif os.environ.get("CI"):
            note = ("WARNING: running in CI (CI is set) with no backend: state and generated outputs stay on this "
                    "runner and are lost with it. "
                    + (f"{billed} billed output(s) in this plan cannot be told apart from outputs an earlier run "
                       "already paid for, and would be paid again. " if billed else "")
                    + "Set `backend: {url: s3://...}` in the spec, --backend URL or BRIA_PIPELINE_BACKEND.")
        elif ws.sandbox:
            note = ""
        else:
            note = (f"no backend: state stays in {ws.state_dir} on this machine and is not shared; a teammate or "
                    "a CI runner applying this spec would not see what this run pays for. Set "
                    "`backend: {url: s3://...}` in the spec, --backend URL or BRIA_PIPELINE_BACKEND.")
        notes[:0] = [note] if note else []
    return dataclasses.replace(plan, notes=(*notes, *plan.notes)) if notes else plan


def apply_options(ws: Workspace, client: AsyncBriaClient, *, wait: bool, timeout: float | None) -> ApplyOptions:
    """What the executor is given: waits, concurrency, where zips are built, staging targets."""
    options = ApplyOptions(wait=wait, timeout=timeout, concurrency=ws.concurrency, work_dir=ws.state_dir / "zips")
    if ws.local_api:
        options.poll_interval, options.max_poll_interval = FAST_POLL
    options.staging = staging(ws, client)
    return options


def staging(ws: Workspace, client: AsyncBriaClient) -> Callable[[DesiredDataset], StagingTarget]:
    """A dataset's bulk staging target, as it can run against this API."""

    def target(dataset: DesiredDataset) -> StagingTarget:
        from ..bulk.staging import target_for

        assert dataset.staging is not None  # asked only for a dataset with a `staging:` section
        return target_for(dataset.staging, spec_dir=ws.spec_path.parent,
                          sandbox_url=client.api_url if ws.local_api else None, transport=ws.staging_transport)

    return target
