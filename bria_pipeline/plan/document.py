"""A plan as a whole: its actions, the fingerprints it was made against, and its JSON form.

The JSON form (`plan_to_dict`) is what `plan --json` prints and what `plan --out` saves; it is
documented by schemas/plan.schema.json. `plan_from_dict` reads a saved plan back for `apply PLAN`,
which refuses it when any fingerprint no longer matches (see `check_fresh`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .actions import Action, Change
from .cost import Cost, plan_cost
from .errors import PlanFileError, StalePlanError
from .steps import MovedImage, step_from_dict, step_to_dict

PLAN_FORMAT = "bria-pipeline-plan"
PLAN_FORMAT_VERSION = 3  # 2: every step is typed (`step`, with a `type` tag) instead of a payload;
# 3: waiting, polling and pinning are step types of their own (wait_captions, poll_image, pin_caption, ...)
COUNTED = ("create", "update", "replace", "delete")


@dataclass(frozen=True)
class Plan:
    """Ordered actions plus what they were planned against.

    bindings  remote ids of what already exists, by address (``project``, ``dataset.lucy``, ...):
              the executor starts from them and adds the ids of what it creates.
    notes     things worth saying that are not actions (old versions kept, resources not owned).
    """

    actions: tuple[Action, ...]
    spec_path: str
    project_name: str
    source_hash: str
    observed_hash: str
    lock_hash: str
    operation: Literal["apply", "destroy"] = "apply"
    prune: bool = False
    targets: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    bindings: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # API requests observing cost
    request_stats: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # by operation; not saved
    text_hash: str = ""  # the spec's text alone, and the files it names: a stale plan says which changed
    files_hash: str = ""
    rate_per_minute: float | None = None  # the user's request limit: the cost says how long the requests take

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.is_change)

    @property
    def has_changes(self) -> bool:
        return any(a.is_change for a in self.actions)

    @property
    def needs_approval(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.approval)

    @property
    def billed(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.billed)

    @property
    def moved(self) -> tuple[Action, ...]:
        """Files renamed on disk whose content is already there: shown, nothing sent."""
        return tuple(a for a in self.actions if a.kind == "noop" and isinstance(a.step, MovedImage))

    @property
    def cost(self) -> Cost:
        """Billed work and requests of carrying it out (see plan/cost.py)."""
        return plan_cost(self.actions)

    def counts(self) -> dict[str, int]:
        out = {kind: 0 for kind in (*COUNTED, "wait", "noop")}
        for action in self.actions:
            out[action.kind] += 1
        return out

    def summary_line(self) -> str:
        counts = self.counts()
        moved = len(self.moved)
        renamed = f"{moved} file{'s' if moved != 1 else ''} renamed on disk"
        if not self.has_changes:
            if moved:
                return f"No changes. The remote matches the spec ({renamed}: same content, nothing to send)."
            return "No changes. The remote matches the spec."
        line = (
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['replace']} to replace, {counts['delete']} to delete."
        )
        if counts["wait"]:
            line += f" {counts['wait']} to wait for."
        if moved:
            line += f" {renamed} (same content, nothing to send)."
        return f"{line} {self.cost.text(self.rate_per_minute)}"

    def action(self, address: str) -> Action | None:
        for a in self.actions:
            if a.address == address:
                return a
        return None


# --- JSON ---------------------------------------------------------------------------------------


def action_to_dict(action: Action) -> dict[str, Any]:
    out = {
        "address": action.address,
        "kind": action.kind,
        "symbol": action.symbol,
        "reason": action.reason,
        "changes": [{"attribute": c.attribute, "old": c.old, "new": c.new} for c in action.changes],
        "depends_on": list(action.depends_on),
        "approval": action.approval,
        "billed": action.billed,
    }
    if action.step is not None:
        out["step"] = step_to_dict(action.step)
    return out


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    counts = plan.counts()
    return {
        "format": PLAN_FORMAT,
        "format_version": PLAN_FORMAT_VERSION,
        "operation": plan.operation,
        "spec": plan.spec_path,
        "project": plan.project_name,
        "fingerprints": {"spec": plan.source_hash, "remote": plan.observed_hash, "lock": plan.lock_hash,
                         "spec_text": plan.text_hash, "files": plan.files_hash},
        "options": {"prune": plan.prune, "targets": list(plan.targets)},
        "summary": {
            "create": counts["create"],
            "update": counts["update"],
            "replace": counts["replace"],
            "delete": counts["delete"],
            "wait": counts["wait"],
            "noop": counts["noop"],
            "has_changes": plan.has_changes,
            "needs_approval": len(plan.needs_approval),
            "billed": len(plan.billed),
            "moved": len(plan.moved),
            "cost": {**plan.cost.as_dict(), "rate_per_minute": plan.rate_per_minute},
            "text": plan.summary_line(),
        },
        "bindings": dict(sorted(plan.bindings.items())),
        "notes": list(plan.notes),
        "requests": plan.requests,
        "actions": [action_to_dict(a) for a in plan.actions],
    }


def plan_from_dict(data: Any, *, source: str = "plan file") -> Plan:
    """Read a saved plan back. Raises PlanFileError when it is not one this version wrote."""
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError(f"{source}: not a bria-pipeline plan", hint="make one with `bria-pipeline plan SPEC --out plan.json`")
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"{source}: plan format version {data.get('format_version')!r} is not supported",
            hint="make the plan again with this version of bria-pipeline",
        )
    try:
        actions = tuple(
            Action(
                address=a["address"],
                kind=a["kind"],
                reason=a["reason"],
                changes=tuple(Change(c["attribute"], c["old"], c["new"]) for c in a.get("changes", ())),
                depends_on=tuple(a.get("depends_on", ())),
                step=step_from_dict(a["step"]) if a.get("step") is not None else None,
                approval=bool(a.get("approval", False)),
                billed=bool(a.get("billed", False)),
            )
            for a in data["actions"]
        )
        fp = data["fingerprints"]
        options = data.get("options") or {}
        return Plan(
            actions=actions,
            spec_path=data["spec"],
            project_name=data.get("project", ""),
            source_hash=fp["spec"],
            observed_hash=fp["remote"],
            lock_hash=fp["lock"],
            text_hash=fp.get("spec_text", ""),
            files_hash=fp.get("files", ""),
            operation=data.get("operation", "apply"),
            prune=bool(options.get("prune", False)),
            targets=tuple(options.get("targets", ())),
            notes=tuple(data.get("notes", ())),
            bindings={k: int(v) for k, v in (data.get("bindings") or {}).items()},
            requests=int(data.get("requests", 0)),
            rate_per_minute=((data.get("summary") or {}).get("cost") or {}).get("rate_per_minute"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{source}: malformed plan ({exc})", hint="make the plan again") from None


def check_fresh(
    saved: Plan, *, source_hash: str, observed_hash: str, lock_hash: str, text_hash: str = "", files_hash: str = ""
) -> None:
    """Refuse a saved plan whose spec, the files it names, lock file or remote changed since it was
    made, naming only what changed."""
    stale = []
    if saved.source_hash != source_hash:
        known = all((saved.text_hash, text_hash, saved.files_hash, files_hash))
        files = known and saved.files_hash != files_hash
        if not files or saved.text_hash != text_hash:
            stale.append("the spec changed")
        if files:
            stale.append("files the spec names changed on disk (images or schema files)")
    if saved.lock_hash != lock_hash:
        stale.append("the lock file changed")
    if saved.observed_hash != observed_hash:
        stale.append("the remote changed")
    if stale:
        raise StalePlanError(
            f"the saved plan is stale: {' and '.join(stale)} since it was made",
            hint=f"review a new plan: bria-pipeline plan {saved.spec_path} --out plan.json",
        )
