"""`destroy`: delete what the spec owns: stop trainings, models, datasets, then the project if empty.
The same run as apply (lock, observe, ask, execute) with the destroy plan."""

from __future__ import annotations

from ..apply.progress import ProgressCallback
from ..apply.result import ApplyResult
from .apply import PlanDecision, carry_out
from .workspace import Workspace


async def destroy(ws: Workspace, *, auto_approve: bool = False, on_progress: ProgressCallback | None = None,
                  on_plan: PlanDecision | None = None, timeout: float | None = None) -> ApplyResult:
    return await carry_out(ws, "destroy", None, auto_approve=auto_approve, timeout=timeout, on_progress=on_progress,
                           on_plan=on_plan)
