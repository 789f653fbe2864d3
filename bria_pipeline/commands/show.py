"""`show`: every resource the spec owns (ids, status, training progress, checkpoints, outputs), as
plain data the CLI prints as a table or JSON (reports/show.py). Reads only: the observing list calls."""

from __future__ import annotations

from typing import Any

from ..plan.planner import plan as make_plan
from ..reports.show import describe_state
from .workspace import Workspace


async def show(ws: Workspace) -> dict[str, Any]:
    """``state["requests"]``: what observing cost; ``state["request_stats"]``: the same by operation."""
    seen = await ws.observe()
    plan = make_plan(ws.desired, seen.observed, seen.lock)
    return {**describe_state(ws.desired, seen.observed, plan, seen.store), "request_stats": seen.requests()}
