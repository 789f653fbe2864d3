"""A plan as text, in the Terraform style: a symbol and an address per step, the attributes that
change indented under it (`old -> new`), the reason after `#`, and one summary line.

Many alike steps in a row (200 image uploads) are shown as the first few and a count.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from .. import addresses
from .actions import Action
from .document import Plan
from .steps import MovedImage

GROUP_SHOWN = 3  # alike steps shown before "and N more like these"
GROUP_MIN = 6  # a run shorter than this is shown in full

_COLORS = {"create": "32", "update": "33", "replace": "35", "delete": "31", "wait": "36", "noop": "2"}


def _paint(text: str, kind: str, color: bool) -> str:
    return f"\x1b[{_COLORS[kind]}m{text}\x1b[0m" if color else text


def _bold(text: str, color: bool) -> str:
    return f"\x1b[1m{text}\x1b[0m" if color else text


def format_value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def group_alike(actions: Iterable[Action]) -> list[list[Action]]:
    """Runs of consecutive actions with the same kind, reason and address family (``...image[``)."""
    groups: list[list[Action]] = []
    for action in actions:
        family = addresses.family(action.address) if "[" in action.address else None
        last = groups[-1][0] if groups else None
        if (
            last is not None
            and family is not None
            and addresses.family(last.address) == family
            and "[" in last.address
            and last.kind == action.kind
            and last.reason == action.reason
        ):
            groups[-1].append(action)
        else:
            groups.append([action])
    return groups


def render_action(action: Action, *, color: bool = False) -> list[str]:
    symbol = f"{'=' if isinstance(action.step, MovedImage) else action.symbol:>3}"
    lines = [f"  {_paint(symbol, action.kind, color)} {_bold(action.address, color)}"]
    for change in action.changes:
        if action.kind == "create" or change.old is None and action.kind != "delete":
            lines.append(f"        {change.attribute} = {format_value(change.new)}")
        elif action.kind == "delete" or change.new is None:
            lines.append(f"        {change.attribute}: {format_value(change.old)}")
        else:
            lines.append(f"        {change.attribute}: {format_value(change.old)} -> {format_value(change.new)}")
    lines.append(f"        # {action.reason}")
    if action.approval:
        paid = "a generated output (paid work)" if action.address.startswith(("generation.", "video.")) else "trained work"
        lines.append(f"        ! needs approval: it deletes or supersedes {paid}")
    if action.billed:
        lines.append("        $ starts billed work")
    return lines


def render_text(plan: Plan, *, color: bool = False, show_noops: bool = False) -> str:
    verb = "destroy" if plan.operation == "destroy" else "plan"
    lines = [f"bria-pipeline {verb}: project {plan.project_name!r} ({plan.spec_path})"]
    moved = plan.moved
    shown = [a for a in plan.actions if a.is_change or show_noops or a in moved]
    if shown:
        symbols = "Symbols: + create, ~ update in place, -/+ new version, - delete, … wait"
        lines.append(symbols + (", = renamed on disk (same content)" if moved else ""))
        lines.append("")
    for group in group_alike(shown):
        if len(group) < GROUP_MIN:
            for action in group:
                lines.extend(render_action(action, color=color))
            continue
        for action in group[:GROUP_SHOWN]:
            lines.extend(render_action(action, color=color))
        family = addresses.family(group[0].address)
        more = len(group) - GROUP_SHOWN
        lines.append(f"  {_paint(f'{group[0].symbol:>3}', group[0].kind, color)} {family}[...] and {more} more like these")
    if plan.notes:
        lines.append("")
        lines.extend(f"Note: {note}" for note in plan.notes)
    approval = plan.needs_approval
    if approval:
        lines.append("")
        lines.append(f"{len(approval)} step(s) need approval (a prompt, or --auto-approve): {', '.join(a.address for a in approval[:4])}")
    lines.append("")
    lines.append(_bold(plan.summary_line(), color))
    return "\n".join(lines) + "\n"
