"""`destroy`: delete what the spec owns: stop trainings, models, datasets, then the project if empty.
The same run as apply (lock, observe, ask, execute) with the destroy plan."""

from __future__ import annotations

from ..apply.progress import ProgressCallback
from ..apply.result import ApplyResult
from ..plan.document import Plan
from ..plan.errors import PlanFileError
from .apply import PlanDecision, carry_out
from .workspace import Workspace


async def destroy(ws: Workspace, saved: Plan | None = None, *, auto_approve: bool = False,
                  on_progress: ProgressCallback | None = None, on_plan: PlanDecision | None = None,
                  timeout: float | None = None) -> ApplyResult:
    """`saved`: a destroy plan saved with `plan --destroy --out` (refused when stale, as any saved plan)."""
    if saved is not None and saved.operation != "destroy":
        raise PlanFileError(f"{saved.spec_path}: this saved plan is an apply plan, not a destroy plan",
                            hint=f"carry it out with apply, or save a destroy plan and destroy that: "
                                 f"`bria-pipeline plan --destroy {saved.spec_path} --out destroy.json`")
    return await carry_out(ws, "destroy", saved, auto_approve=auto_approve, timeout=timeout, on_progress=on_progress,
                           on_plan=on_plan)
