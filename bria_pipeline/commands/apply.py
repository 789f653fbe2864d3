"""`apply` and `destroy`: carry a plan out under the apply lock, recording progress as it goes.

The run is an `Operation` (commands/operation.py): observe, plan (or check the saved plan: refused
when it went stale), check (what cannot run, approval), execute, persist. `on_plan(plan)` sees the
plan before anything is sent: False cancels, True approves, None goes on without approving.
Deleting or superseding paid work needs approval (commands/approval.py).
"""

from __future__ import annotations

from ..apply.progress import ProgressCallback
from ..apply.result import ApplyResult, StepResult
from ..plan.document import Plan
from ..state.remote_lock import RemoteLock
from .approval import Operation as OperationKind
from .operation import Operation, PlanDecision, Planning
from .workspace import Workspace

__all__ = ["PlanDecision", "carry_out"]


async def carry_out(ws: Workspace, operation: OperationKind, saved: Plan | None = None, *,
                    auto_approve: bool = False, wait: bool = True, timeout: float | None = None, prune: bool = False,
                    targets: tuple[str, ...] = (), replace: tuple[str, ...] = (),
                    on_progress: ProgressCallback | None = None, on_plan: PlanDecision | None = None) -> ApplyResult:
    """Observe, plan (or check `saved`), ask, execute, persist; `result.requests` counts observing too.
    `replace`: addresses made again although up to date (planner.plan). A saved destroy plan
    (`plan --destroy --out`) is carried out as a destroy, whichever command was given it."""
    if saved is not None and saved.operation == "destroy":
        operation = "destroy"
    planning = Planning(operation, saved, prune=prune, targets=targets, replace=replace)
    with ws.run_lock(operation) as run_lock:
        result = await Operation(ws, planning, run_lock, auto_approve=auto_approve, wait=wait, timeout=timeout,
                                 on_progress=on_progress, on_plan=on_plan).run()
    if isinstance(run_lock, RemoteLock) and run_lock.release_error:  # a local lock always releases
        result.steps.append(StepResult("backend.lock", "failed", (
            f"the lock {run_lock.id} could not be released ({run_lock.release_error}); once the backend answers "
            f"again: bria-pipeline force-unlock {ws.spec_path} {run_lock.id}")))
    if not result.cancelled:
        result.lock_written = True
    return result
