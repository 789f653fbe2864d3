"""A plan as markdown for a pull-request comment: summary first, one table row per step (alike
steps folded into one row), changed attributes in a collapsed diff block."""

from __future__ import annotations

from .document import Plan
from .render_text import format_value, group_alike, listed

APPROVAL_SHOWN = 12  # addresses the approval quote names before "and N more"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, *, show_all: bool = False) -> str:
    verb = "destroy" if plan.operation == "destroy" else "plan"
    out = [f"#### bria-pipeline {verb}: `{plan.project_name}` (`{plan.spec_path}`)", ""]
    out.append(f"**{plan.summary_line()}**")
    out.append("")
    approval = plan.needs_approval
    if approval:
        names = listed([f"`{a.address}`" for a in approval], APPROVAL_SHOWN, show_all=show_all)
        out.append(f"> **Needs approval:** {len(approval)} step(s) delete or supersede paid work (trained models, "
                   f"generated outputs): {names}.")
        out.append("")
    cost = plan.cost
    if plan.has_changes:
        out.append("| Trainings | Image generations | Structured prompts | Videos | Visual schemas | Refine calls | Requests |")
        out.append("|--:|--:|--:|--:|--:|--:|--:|")
        out.append(f"| {cost.trainings} | {cost.image_generations} | {cost.structured_prompts} | {cost.videos} | "
                   f"{cost.visual_schemas} | {cost.refines} | {cost.requests} |")
        out.append("")
    billed = plan.billed
    if billed:
        out.append(f"> **Billed:** {len(billed)} step(s) start paid work: {cost.billed_text()}.")
        out.append("")
    changes = plan.changes
    if changes:
        out.append("| | Address | Kind | Why |")
        out.append("|:-:|---|---|---|")
        for group in ([[a] for a in changes] if show_all else group_alike(changes)):
            first = group[0]
            if len(group) == 1:
                address = first.address
            else:
                address = f"{first.address.split('[', 1)[0]}[...] ×{len(group)}"
            reasons = {a.reason for a in group}
            why = first.reason if len(reasons) == 1 else first.reason.split(": ", 1)[0] + ": ..."
            out.append(f"| `{first.symbol}` | `{_cell(address)}` | {first.kind} | {_cell(why)} |")
        out.append("")
        diff = []
        for action in changes:
            for change in action.changes:
                if action.kind == "delete":
                    diff.append(f"- {action.address}: {change.attribute} {format_value(change.old)}")
                elif change.old is None:
                    diff.append(f"+ {action.address}: {change.attribute} = {format_value(change.new)}")
                else:
                    diff.append(f"! {action.address}: {change.attribute} {format_value(change.old)} -> {format_value(change.new)}")
        if diff:
            shown = diff if show_all else diff[:200]
            out.append(f"<details><summary>Changed attributes ({len(diff)})</summary>")
            out.append("")
            out.append("```diff")
            out.extend(shown)
            if len(diff) > len(shown):
                out.append(f"# ... and {len(diff) - len(shown)} more")
            out.append("```")
            out.append("")
            out.append("</details>")
            out.append("")
    if plan.notes:
        out.extend(f"- {note}" for note in plan.notes)
        out.append("")
    return "\n".join(out)
