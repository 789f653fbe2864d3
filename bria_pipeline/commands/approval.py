"""Approval, decided in one place: what a plan needs before apply or destroy sends anything.

    need = needed(plan, Asking(operation="apply", saved=False, auto_approve=False, terminal=True))
    need.ask      # "nothing" | "approved" | "yes_no" | "typed_name" | "cancel" | "refuse"

The rules:

- --auto-approve approves everything (trained work and paid outputs included);
- a plan with nothing to send (no change, or only waits) needs nothing;
- a saved plan was reviewed when it was made: it approves itself unless it deletes or supersedes
  paid work; a saved destroy plan is always asked;
- on a terminal: a plan that deletes or supersedes trained models or paid outputs takes the
  project's name (or ``yes``) typed out, as Terraform asks for ``yes`` (`accepts`); any other a y/n;
- off a terminal (CI, a pipe, </dev/null) nothing can be asked: apply is refused before anything is
  sent (exit 1, with how to approve); destroy says so and is cancelled.

The CLI asks the question it is told to ask (cli/run_cmds.py); apply enforces the last rule,
whoever called it (`require`): paid work is deleted or superseded only when approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..apply.errors import ApprovalRequired
from ..plan.actions import Action
from ..plan.document import Plan

Operation = Literal["apply", "destroy"]
Ask = Literal["nothing", "approved", "yes_no", "typed_name", "cancel", "refuse"]
MUTATING = ("create", "update", "replace", "delete")  # the action kinds that send changes
REVIEW_AGAIN = "review the plan above, then run again with --auto-approve"


@dataclass(frozen=True)
class Asking:
    """What approval depends on besides the plan."""

    operation: Operation = "apply"
    saved: bool = False  # the plan was saved with `plan --out` (reviewed when it was made)
    auto_approve: bool = False
    terminal: bool = False  # someone can be asked (stdin is a terminal)


@dataclass(frozen=True)
class Needed:
    """What a plan needs: `ask` says which; `message` and `hint` say why a plan is cancelled or refused.

    nothing     go on without approving (`require` still refuses paid work unapproved)
    approved    approved (--auto-approve)
    yes_no      a y/n question
    typed_name  the project's name (or ``yes``) typed out: `accepts` tells the answer
    cancel      cancelled, with `message` and `hint` to print
    refuse      refused: `refusal()` is the error to raise
    """

    ask: Ask
    message: str = ""
    hint: str = ""

    @property
    def decision(self) -> bool | None:
        """The answer when nothing is asked: True approves, False cancels, None goes on."""
        return {"approved": True, "cancel": False}.get(self.ask)

    def refusal(self) -> ApprovalRequired:
        return ApprovalRequired(self.message, hint=self.hint)


def needed(plan: Plan, asking: Asking) -> Needed:
    """What `plan` needs before anything is sent (see the module's docstring)."""
    if asking.auto_approve:
        return Needed("approved")
    changing = changing_actions(plan)
    saved_approves = asking.saved and not plan.needs_approval and asking.operation != "destroy"
    if not changing or saved_approves:
        return Needed("nothing")
    if asking.terminal:
        return Needed("typed_name" if plan.needs_approval else "yes_no")
    if asking.operation == "destroy":  # the command says "Destroy cancelled: nothing was deleted." after it
        return Needed("cancel", f"not on a terminal: destroy needs --auto-approve ({_steps(changing)} in the plan)",
                      REVIEW_AGAIN)
    if asking.saved:
        listed = ", ".join(a.address for a in plan.needs_approval)
        return Needed("refuse", f"not on a terminal: this saved plan deletes or supersedes paid work ({listed}) "
                                f"and {asking.operation} needs --auto-approve; nothing was sent", REVIEW_AGAIN)
    return Needed("refuse", f"not on a terminal: {asking.operation} needs --auto-approve to change anything "
                            f"({_steps(changing)} in the plan); nothing was sent",
                  f"{REVIEW_AGAIN}, or save it with `bria-pipeline plan SPEC --out plan.json` and apply that file "
                  "(a saved plan is the approval)")


def changing_actions(plan: Plan) -> list[Action]:
    return [a for a in plan.actions if a.kind in MUTATING]


def accepts(plan: Plan, answer: str) -> bool:
    """Whether a typed answer approves deleting or superseding paid work: the project's name or
    ``yes``; anything else, ``y`` included, cancels."""
    return answer.strip() in (plan.project_name, "yes")


def typed_prompt(plan: Plan) -> str:
    return f"Only '{plan.project_name}' or 'yes' will be accepted to approve. Enter a value"


def require(plan: Plan, *, approved: bool) -> None:
    """Refuse a plan that deletes or supersedes paid work unless it was approved."""
    if not plan.needs_approval or approved:
        return
    listed = "".join(f"\n  {a.address}" for a in plan.needs_approval)
    outputs = sum(a.address.startswith(("generation.", "video.")) for a in plan.needs_approval)
    paid = ("trained work" if not outputs else "generated outputs (paid work)"
            if outputs == len(plan.needs_approval) else "trained work and generated outputs")
    raise ApprovalRequired(
        f"this plan deletes or supersedes {paid} and needs approval:{listed}",
        hint="review the plan, then apply with --auto-approve (or answer yes at the prompt)",
    )


def _steps(actions: list[Action]) -> str:
    return f"{len(actions)} step{'' if len(actions) == 1 else 's'}"
