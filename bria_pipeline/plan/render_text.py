"""A plan as text, in the Terraform style: a symbol and an address per step, the attributes that
change indented under it (`old -> new`), the reason after `#`, and one summary line.

Many alike steps in a row (200 image uploads, 106 outputs a --prune deletes) are shown as the
first few and a count; `show_all` (the CLI's `plan --show-all`) lists every one of them. Steps are
alike when they share the kind, the address family (``dataset.lucy.image[...]``), whether they
need approval or start billed work, and their reason up to its first colon (``no longer in the
spec, --prune: delete outputs/a.png`` and ``...: delete outputs/b.png`` are alike).
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
APPROVAL_SHOWN = 4  # addresses the approval line names before "and N more"
SHOW_ALL = "plan --show-all lists them"

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


def _alike_key(action: Action) -> tuple[object, ...] | None:
    if "[" not in action.address:
        return None
    return (addresses.family(action.address), action.kind, bool(action.approval), bool(action.billed),
            action.reason.split(": ", 1)[0])


def group_alike(actions: Iterable[Action]) -> list[list[Action]]:
    """Runs of consecutive alike actions (see the module's doc); any other action alone."""
    groups: list[list[Action]] = []
    for action in actions:
        key = _alike_key(action)
        if groups and key is not None and _alike_key(groups[-1][0]) == key:
            groups[-1].append(action)
        else:
            groups.append([action])
    return groups


def listed(items: list[str], shown: int, *, show_all: bool = False) -> str:
    """``a, b, c, d and 102 more (plan --show-all lists them)``, or every item with `show_all`."""
    if show_all or len(items) <= shown:
        return ", ".join(items)
    return f"{', '.join(items[:shown])} and {len(items) - shown} more ({SHOW_ALL})"


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


def render_text(plan: Plan, *, color: bool = False, show_noops: bool = False, show_all: bool = False) -> str:
    verb = "destroy" if plan.operation == "destroy" else "plan"
    lines = [f"bria-pipeline {verb}: project {plan.project_name!r} ({plan.spec_path})"]
    moved = plan.moved
    shown = [a for a in plan.actions if a.is_change or show_noops or a in moved]
    if shown:
        symbols = "Symbols: + create, ~ update in place, -/+ new version, - delete, … wait"
        lines.append(symbols + (", = renamed on disk (same content)" if moved else ""))
        lines.append("")
    for group in group_alike(shown):
        if len(group) < GROUP_MIN or show_all:
            for action in group:
                lines.extend(render_action(action, color=color))
            continue
        for action in group[:GROUP_SHOWN]:
            lines.extend(render_action(action, color=color))
        family = addresses.family(group[0].address)
        more = len(group) - GROUP_SHOWN
        lines.append(f"  {_paint(f'{group[0].symbol:>3}', group[0].kind, color)} {family}[...] and {more} more like "
                     f"these ({SHOW_ALL})")
    if plan.notes:
        lines.append("")
        lines.extend(f"Note: {note}" for note in plan.notes)
    approval = plan.needs_approval
    if approval:
        lines.append("")
        names = listed([a.address for a in approval], APPROVAL_SHOWN, show_all=show_all)
        lines.append(f"{len(approval)} step(s) need approval (a prompt, or --auto-approve): {names}")
    lines.append("")
    lines.append(_bold(plan.summary_line(), color))
    return "\n".join(lines) + "\n"
