"""What a plan is made of: actions with an address, a kind, a reason and the changes behind it.

A plan is data. The planner makes it without I/O; the executor carries it out; the CLI renders it
(text in the Terraform style, JSON per schemas/plan.schema.json, markdown for pull requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .steps import Step

S = TypeVar("S", bound=Step)

ActionKind = Literal["create", "update", "replace", "delete", "wait", "noop"]

# Terraform's symbols, and ours for waiting on a long job.
SYMBOLS: dict[str, str] = {
    "create": "+",
    "update": "~",
    "replace": "-/+",
    "delete": "-",
    "wait": "…",
    "noop": " ",
}


@dataclass(frozen=True)
class Change:
    """One attribute that differs: `rank: 64 -> 128`."""

    attribute: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Action:
    """One step of a plan.

    address   ``project``, ``dataset.lucy``, ``dataset.lucy.image[pose-01.png]``,
              ``model.lucy-lora``, ``generation.places[beach-dawn-seed1]``
    kind      create, update (in place), replace (a new version), delete, wait, noop
    reason    a sentence a person reads: why this step, and why this kind
    changes   the attributes behind an update or replace, old -> new
    depends_on addresses that must be done first
    step      what the executor carries out: one frozen dataclass per operation (plan/steps.py);
              None only for a noop that is there to be shown
    approval  True when it deletes or replaces something trained: needs --auto-approve or a prompt
    billed    True when it starts paid work (a training run, a generation)
    """

    address: str
    kind: ActionKind
    reason: str
    changes: tuple[Change, ...] = ()
    depends_on: tuple[str, ...] = ()
    step: Step | None = field(default=None, compare=False, hash=False)
    approval: bool = False
    billed: bool = False

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.kind]

    @property
    def is_change(self) -> bool:
        return self.kind != "noop"


def step_of(action: Action, kind: type[S] | tuple[type[S], ...]) -> S:
    """The action's typed step, which the caller knows is a `kind` (a plan made by this version)."""
    step = action.step
    if not isinstance(step, kind):
        raise TypeError(f"{action.address}: expected a {kind} step, not {step!r}")
    return step
