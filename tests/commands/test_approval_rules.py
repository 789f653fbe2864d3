"""commands/approval.py decides what a plan needs before anything is sent; the plans are real ones,
made against the sandbox: a first plan (changes, nothing paid at stake), one with nothing to do,
a retraining (supersedes a trained model: paid work), and a destroy plan (deletes it)."""

from __future__ import annotations

import time

import httpx
import pytest

from commands_helpers import mutating_requests, write_spec
from sandbox_time import DrivenPipeline

from bria_pipeline.apply.errors import ApprovalRequired
from bria_pipeline.commands import approval
from bria_pipeline.commands.approval import Asking
from bria_pipeline.plan.document import Plan
from bria_pipeline.sandbox import ManualClock, create_app


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    """Real plans of the example spec, made once for the module."""
    root = tmp_path_factory.mktemp("approval")
    clock = ManualClock(time.time())
    app = create_app(root / "sandbox.sqlite", clock=clock, training_seconds=0.3)
    spec = write_spec(root / "lucy")

    def pipeline() -> DrivenPipeline:
        return DrivenPipeline(spec, clock, sandbox=True, transport=httpx.ASGITransport(app=app))

    try:
        made = {"nothing_to_delete": pipeline().plan_destroy(), "changes": pipeline().plan()}
        assert pipeline().apply(auto_approve=True).ok
        made |= {"nothing": pipeline().plan(), "paid": pipeline().plan(replace=["model.lucy-lora"]),
                 "destroy": pipeline().plan_destroy()}
    finally:
        app.state.sandbox.close()
    return made


def test_the_plans_are_what_the_table_says(plans: dict[str, Plan]) -> None:
    assert plans["changes"].has_changes and not plans["changes"].needs_approval
    assert not plans["nothing"].has_changes and not plans["nothing_to_delete"].has_changes
    assert [a.address for a in plans["paid"].needs_approval][0].startswith("model.lucy-lora")
    assert plans["destroy"].needs_approval and plans["destroy"].operation == "destroy"


# (plan, operation, saved, --auto-approve, terminal) -> what is needed
CASES = [
    ("changes", "apply", False, True, False, "approved"),
    ("paid", "apply", False, True, False, "approved"),
    ("destroy", "destroy", True, True, False, "approved"),
    ("nothing", "apply", False, False, False, "nothing"),
    ("nothing_to_delete", "destroy", False, False, True, "nothing"),
    ("changes", "apply", True, False, False, "nothing"),  # a saved plan is the approval ...
    ("paid", "apply", True, False, True, "typed_name"),  # ... unless it supersedes paid work
    ("paid", "apply", True, False, False, "refuse"),
    ("destroy", "destroy", True, False, True, "typed_name"),  # a saved destroy plan is always asked
    ("destroy", "destroy", True, False, False, "cancel"),
    ("changes", "apply", False, False, True, "yes_no"),
    ("changes", "destroy", False, False, True, "yes_no"),
    ("paid", "apply", False, False, True, "typed_name"),
    ("destroy", "destroy", False, False, True, "typed_name"),
    ("changes", "apply", False, False, False, "refuse"),
    ("paid", "apply", False, False, False, "refuse"),
    ("destroy", "destroy", False, False, False, "cancel"),
]


@pytest.mark.parametrize("name, operation, saved, auto_approve, terminal, ask", CASES)
def test_what_a_plan_needs(plans: dict[str, Plan], name: str, operation: str, saved: bool, auto_approve: bool,
                           terminal: bool, ask: str) -> None:
    need = approval.needed(plans[name], Asking(operation, saved=saved, auto_approve=auto_approve,  # type: ignore[arg-type]
                                               terminal=terminal))
    assert need.ask == ask
    assert need.decision is {"approved": True, "cancel": False}.get(ask)
    assert bool(need.message) == (ask in ("cancel", "refuse"))


def test_refusals_and_cancels_say_why_and_how_to_approve(plans: dict[str, Plan]) -> None:
    changing = len([a for a in plans["changes"].actions if a.kind in ("create", "update", "replace", "delete")])
    need = approval.needed(plans["changes"], Asking("apply"))
    assert need.message == (f"not on a terminal: apply needs --auto-approve to change anything ({changing} steps in "
                            "the plan); nothing was sent")
    assert "`bria-pipeline plan SPEC --out plan.json`" in need.hint and "(a saved plan is the approval)" in need.hint
    error = need.refusal()
    assert isinstance(error, ApprovalRequired) and error.hint == need.hint

    saved = approval.needed(plans["paid"], Asking("apply", saved=True))
    listed = ", ".join(a.address for a in plans["paid"].needs_approval)
    assert saved.message == (f"not on a terminal: this saved plan deletes or supersedes paid work ({listed}) and apply "
                             "needs --auto-approve; nothing was sent")
    assert saved.hint == "review the plan above, then run again with --auto-approve"

    cancel = approval.needed(plans["destroy"], Asking("destroy"))
    assert cancel.message.startswith("not on a terminal: destroy needs --auto-approve (")
    assert cancel.hint == "review the plan above, then run again with --auto-approve"


def test_the_typed_answer_is_the_project_name_or_yes(plans: dict[str, Plan]) -> None:
    paid = plans["paid"]
    assert approval.typed_prompt(paid) == "Only 'lucy-commands' or 'yes' will be accepted to approve. Enter a value"
    assert approval.accepts(paid, " lucy-commands\n") and approval.accepts(paid, "yes")
    assert not approval.accepts(paid, "y") and not approval.accepts(paid, "") and not approval.accepts(paid, "YES")


def test_require_refuses_paid_work_unless_approved(plans: dict[str, Plan]) -> None:
    approval.require(plans["changes"], approved=False)  # nothing paid at stake
    approval.require(plans["paid"], approved=True)
    with pytest.raises(ApprovalRequired) as refused:
        approval.require(plans["paid"], approved=False)
    assert str(refused.value).startswith("this plan deletes or supersedes trained work and needs approval:\n  model.")
    assert refused.value.hint == "review the plan, then apply with --auto-approve (or answer yes at the prompt)"


def test_apply_enforces_approval_whoever_calls_it(make_pipeline, sandbox_app) -> None:
    """The Python API without a prompt: a plan superseding paid work is refused after observing and
    before any change; `on_plan` returning False cancels; True approves."""
    assert make_pipeline().apply(auto_approve=True).ok
    before = mutating_requests(sandbox_app)
    with pytest.raises(ApprovalRequired):
        make_pipeline().apply(replace=["model.lucy-lora"], on_plan=lambda plan: None)
    cancelled = make_pipeline().apply(replace=["model.lucy-lora"], on_plan=lambda plan: False)
    assert cancelled.cancelled and cancelled.notes == ["cancelled: nothing was changed"]
    assert mutating_requests(sandbox_app) == before

    approved = make_pipeline().apply(replace=["model.lucy-lora"], on_plan=lambda plan: True)
    assert approved.ok and mutating_requests(sandbox_app) > before
