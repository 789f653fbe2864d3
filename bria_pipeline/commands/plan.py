"""`plan`: what apply (or destroy) would do, and why. Reads only: the observing list calls (and a consistent
read of the backend), no state written, no lock taken.
Also reading and writing a plan saved with `plan --out`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

from ..atomic import write_atomic
from ..plan.document import Plan, plan_from_dict, plan_to_dict
from ..plan.errors import PlanFileError
from .checks import refuse_what_cannot_run, state_notes
from .operation import Planning, plan_phase
from .workspace import Workspace


async def plan(ws: Workspace, *, prune: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
    """The plan against what exists now; `plan.requests` (and by operation `plan.request_stats`)
    say what observing cost. The phases apply runs first (commands/operation.py), reading only:
    where the file-facts cache shaped the plan, its files are hashed again and, if a cached fact
    was wrong, the spec is read afresh and planned again, so the plan never shows a change that
    apply would not make."""
    async with ws.observing() as seen:
        planned = await plan_phase(ws, seen, Planning("apply", prune=prune, targets=tuple(targets),
                                                      replace=tuple(replace)))
        refuse_what_cannot_run(planned.ws, planned.plan, seen.client)
    return state_notes(planned.ws, dataclasses.replace(planned.plan, request_stats=seen.requests()))


async def plan_destroy(ws: Workspace) -> Plan:
    """What destroy would delete (no dataset images listed: they go with their dataset)."""
    seen = await ws.observe(images=False)
    planned = await plan_phase(ws, seen, Planning("destroy"))
    return dataclasses.replace(planned.plan, request_stats=seen.requests())


def load_plan_file(path: str | Path) -> Plan:
    """Read a plan saved with `plan --out`."""
    path = Path(path)
    again = f"make it again with `bria-pipeline plan SPEC --out {path}`"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the plan: {exc.strerror or exc}", hint=again) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"{path}: not a plan file: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not "
                            "UTF-8 text", hint=again) from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a plan file: {exc.msg}", hint=again) from None
    return plan_from_dict(data, source=str(path))


def save_plan_file(plan: Plan, path: str | Path) -> None:
    write_atomic(Path(path), (json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
