"""Planning one model and its training run.

A model's remote name carries the fingerprint of its dataset's content, its training mode and its
parameters (``lucy-lora-1a2b3c4d``), because none of those can change once training starts.

- a version with the spec's fingerprint, alive and on the right dataset: start, wait or nothing;
- that version's training stopped or failed: a new revision (``-r2``), since it cannot resume;
- an older version never trained (status Created) on the same dataset: renamed and trained with
  the new parameters, nothing lost;
- an older trained version: a new model version, the old one kept (and the reason shown);
- nothing: a new model.
"""

from __future__ import annotations

from typing import Any

from .. import addresses
from ..identity import Version, current_versions, model_base, parse_version_name, version_name
from ..model import DesiredModel
from ..training_params import TrainingParams
from ..state.observed import ObservedModel
from .actions import Action, Change
from .context import ModelOutcome, PlanContext
from .errors import PlanError
from .steps import CreateModel, StartTraining, UpdateModel, WaitTraining


def plan_model(ctx: PlanContext, m: DesiredModel, claimed: set[int], reserved: frozenset[str] = frozenset()) -> ModelOutcome:
    """`claimed`: model ids other spec models carry on with; `reserved`: their fingerprints."""
    address = addresses.model(m.key)
    training_address = addresses.training(m.key)
    if m.dataset not in ctx.desired.datasets:
        raise PlanError(f"model {m.key!r} trains on dataset {m.dataset!r}, which the spec does not define")
    ds = ctx.desired.datasets[m.dataset]
    dso = ctx.dataset_outcomes[m.dataset]
    if not ds.complete:
        raise PlanError(
            f"model {m.key!r} trains on dataset {m.dataset!r}, which the spec leaves as a draft (`complete: false`)",
            hint="remove `complete: false` from the dataset, or remove the model",
        )
    base = model_base(m.key)
    fingerprints = model_fingerprints(ctx, m)
    versions = [
        v
        for v in ctx.model_versions(base)
        if v.item.id not in claimed
        and (v.name.fingerprint in fingerprints or (v.name.fingerprint not in reserved and _same_member(m, v.item)))
    ]
    current = current_versions(versions, lambda v: v.name.fingerprint in fingerprints)
    desired_name = m.remote_name(ds)

    if current:
        top = current[-1]
        problem = _unusable(ctx, m, top.item, dso.id, dso.remote_name)
        ctx.replaceable.add(address)
        if problem is None and address in ctx.replace and top.item.status != "Created":
            new_name = version_name(base, top.name.fingerprint, top.name.revision + 1)
            claimed.add(top.item.id)
            return _new_model(ctx, m, new_name, f"--replace {address}: trained again as a new model version "
                              f"{new_name} ({top.item.name} is kept)", top.item, dso.ready_after, replace=True)
        if problem is None:
            claimed.add(top.item.id)
            return _carry_on(ctx, m, top, dso.ready_after, str(top.name))
        new_name = version_name(base, top.name.fingerprint, top.name.revision + 1)
        return _new_model(ctx, m, new_name, f"{problem}: new model version {new_name}", top.item, dso.ready_after, replace=True)

    reusable = sorted(
        (
            v
            for v in versions
            if v.item.status == "Created"
            and dso.id is not None
            and v.item.dataset_id == dso.id
            and v.item.training_mode == m.training_mode
        ),
        key=lambda v: v.item.id,
    )
    if reusable:
        top = reusable[-1]
        claimed.add(top.item.id)
        ctx.bindings[address] = top.item.id
        ctx.emit(
            Action(
                address,
                "update",
                f"training parameters changed before {top.item.name} started training: it is renamed to "
                f"{desired_name} and trains with the spec's parameters",
                changes=(Change("name", top.renamed_to or top.item.name, desired_name), *_param_changes(m, top.item)),
                step=UpdateModel(m.key, {"name": desired_name}),
            )
        )
        _training_start(ctx, m, address, training_address, dso.ready_after)
        outcome = ModelOutcome(m.key, desired_name, top.item, ready_after=(training_address,))
        ctx.model_outcomes[m.key] = outcome
        return outcome

    reason = f"new model {desired_name} on dataset {dso.remote_name}"
    gone = _gone(ctx, m, base, fingerprints)
    if gone:
        # the spec's own version was deleted in the Console: that, not an earlier version, is why
        return _new_model(ctx, m, desired_name, f"{gone}; {reason}", None, dso.ready_after, replace=False)
    previous = [v for v in versions if v.item.trained or v.item.status == "Created"]
    if previous:
        # compare with the version in use: the earlier one closest to the spec (after a change and
        # its revert, that is the reverted-to version, not the newest)
        old = min(previous, key=lambda v: (_distance(ctx, m, v.item, dso.remote_name), -v.item.id)).item
        return _new_model(ctx, m, desired_name, _why_new_version(ctx, m, old, dso.remote_name, desired_name), old, dso.ready_after, replace=True)
    gone = ctx.gone("model", m.key)
    return _new_model(ctx, m, desired_name, f"{gone}; {reason}" if gone else reason, None, dso.ready_after, replace=False)


def _gone(ctx: PlanContext, m: DesiredModel, base: str, fingerprints: tuple[str, ...]) -> str | None:
    """"model lucy-lora-1a2b3c4d (id 7) is gone: ..." when the version named after the spec's own
    content, recorded in .bria/, is no longer listed."""
    mine = [
        r
        for r in ctx.observed.vanished("model", m.key)
        if (parsed := parse_version_name(base, r.name)) is not None and parsed.fingerprint in fingerprints
    ]
    if not mine:
        return None
    last = max(mine, key=lambda r: r.id)
    return f"model {last.name} (id {last.id}) is gone: deleted outside bria-pipeline (drift)"


def _distance(ctx: PlanContext, m: DesiredModel, model: ObservedModel, dataset_name: str) -> int:
    """How many of mode, parameters and dataset differ between the spec and an earlier version."""
    dataset = ctx.observed.dataset_by_id(model.dataset_id)
    return len(_param_changes(m, model)) + (dataset is None or dataset.name != dataset_name)


def model_fingerprints(ctx: PlanContext, m: DesiredModel) -> tuple[str, ...]:
    """The fingerprints a version of this model may be named with: over the dataset's content
    fingerprint (today's), over the legacy one, and over the dataset version the plan carries on
    with (which may carry a legacy name, kept after a file was renamed on disk)."""
    ds = ctx.desired.datasets[m.dataset]
    out = [m.fingerprint(ds), m.fingerprint(ds.legacy_fingerprint())]
    dso = ctx.dataset_outcomes.get(m.dataset)
    parsed = parse_version_name(ds.key, dso.remote_name) if dso is not None else None
    if parsed is not None:
        out.append(m.fingerprint(parsed.fingerprint))
    return tuple(dict.fromkeys(out))


def _same_member(m: DesiredModel, model: ObservedModel) -> bool:
    """A sweep member follows only versions trained with its own sweep values: another member's
    (or a dropped member's) model is not its earlier version. Untrained models carry no values."""
    have = model.training_parameters or {}
    return all(name not in have or have[name] == value for name, value in m.sweep)


def _unusable(ctx: PlanContext, m: DesiredModel, model: ObservedModel, dataset_id: int | None, dataset_name: str) -> str | None:
    if model.dead:
        word = {"Failed": "failed", "Stopped": "was stopped", "Stopping": "is stopping"}[model.status]
        return f"training of {model.name} {word} (status {model.status}); a training cannot be resumed"
    if model.training_mode != m.training_mode:
        return f"{model.name} was created in {model.training_mode} mode and the spec asks for {m.training_mode}"
    old = ctx.observed.dataset_by_id(model.dataset_id)
    if old is None and model.trained:
        # Its dataset was deleted since. The model's name carries the fingerprint of the content it
        # trained on, which is the spec's: the trained model is as good as ever.
        pass
    elif old is None:
        return f"{model.name} was made from dataset id {model.dataset_id}, which no longer exists"
    elif dataset_id is None or model.dataset_id != dataset_id:
        return f"{model.name} was made from dataset {old.name}, and the spec's dataset is now {dataset_name}"
    if model.trained:
        differing = [c.attribute for c in _param_changes(m, model)]
        if differing:
            return f"{model.name} trained with other parameters ({', '.join(differing)})"
    return None


def _carry_on(ctx: PlanContext, m: DesiredModel, version: Version[ObservedModel], dataset_ready: tuple[str, ...], name: str) -> ModelOutcome:
    address = addresses.model(m.key)
    training_address = addresses.training(m.key)
    model = version.item
    ctx.bindings[address] = model.id
    changes = []
    if version.renamed_to:
        changes.append(Change("name", version.renamed_to, name))
    if m.description is not None and (m.description or None) != (model.description or None):
        changes.append(Change("description", model.description, m.description))
    if changes:
        reason = "renamed outside bria-pipeline (drift): the name that identifies it is restored" if version.renamed_to else ""
        if any(c.attribute == "description" for c in changes):
            reason = (reason + "; " if reason else "") + "description differs from the spec: updated in place"
        ctx.emit(
            Action(
                address,
                "update",
                reason,
                changes=tuple(changes),
                step=UpdateModel(m.key, {c.attribute: c.new for c in changes}),
            )
        )
    else:
        ctx.emit(Action(address, "noop", f"{name}: {_status_text(model)}"))
    ready: tuple[str, ...] = ()
    if model.status == "Created":
        _training_start(ctx, m, address, training_address, dataset_ready)
        ready = (training_address,)
    elif model.status == "InProgress":
        ctx.emit(
            Action(
                training_address,
                "wait",
                f"training of {name} in progress ({len(model.checkpoint_steps)} checkpoints so far): wait for Completed",
                step=WaitTraining(m.key),
            )
        )
        ready = (training_address,)
    outcome = ModelOutcome(m.key, name, model, ready_after=ready)
    ctx.model_outcomes[m.key] = outcome
    return outcome


def _new_model(
    ctx: PlanContext,
    m: DesiredModel,
    name: str,
    reason: str,
    superseded: ObservedModel | None,
    dataset_ready: tuple[str, ...],
    *,
    replace: bool,
) -> ModelOutcome:
    address = addresses.model(m.key)
    training_address = addresses.training(m.key)
    changes: list[Change] = [Change("name", superseded.name if superseded else None, name)]
    if superseded is not None:
        changes.extend(_param_changes(m, superseded))
    ctx.emit(
        Action(
            address,
            "replace" if replace else "create",
            reason,
            changes=tuple(changes),
            depends_on=ctx.deps("project", *dataset_ready),
            step=CreateModel(m.key, name, m.dataset, m.training_mode, m.description),
            approval=bool(superseded is not None and superseded.trained and superseded.status == "Completed"),
        )
    )
    _training_start(ctx, m, address, training_address, dataset_ready)
    outcome = ModelOutcome(m.key, name, None, ready_after=(training_address,))
    ctx.model_outcomes[m.key] = outcome
    return outcome


def _training_start(ctx: PlanContext, m: DesiredModel, address: str, training_address: str, dataset_ready: tuple[str, ...]) -> None:
    params = m.training_body()
    described = ", ".join(f"{k} {v}" for k, v in params.items()) or "the service's defaults"
    ctx.emit(
        Action(
            training_address,
            "create",
            f"start training ({m.training_mode}: {described}), then wait for Completed",
            changes=tuple(Change(k, None, v) for k, v in params.items()),
            depends_on=ctx.deps(address, *dataset_ready),
            step=StartTraining(m.key, TrainingParams(**params)),
            billed=True,
        )
    )


def _param_changes(m: DesiredModel, old: ObservedModel) -> list[Change]:
    changes = []
    if old.training_mode != m.training_mode:
        changes.append(Change("training_mode", old.training_mode, m.training_mode))
    wanted = m.training_body()
    have: dict[str, Any] = old.training_parameters or {}
    for key, value in wanted.items():
        if key in have and have[key] != value:
            changes.append(Change(key, have[key], value))
    return changes


def _why_new_version(ctx: PlanContext, m: DesiredModel, old: ObservedModel, dataset_name: str, new_name: str) -> str:
    kept = f"{old.name} is kept" if old.status != "Created" else f"{old.name} is kept, untrained"
    params = [c for c in _param_changes(m, old) if c.attribute != "training_mode"]
    mode = [c for c in _param_changes(m, old) if c.attribute == "training_mode"]
    old_dataset = ctx.observed.dataset_by_id(old.dataset_id)
    parts = []
    if params:
        listed = ", ".join(f"{c.attribute} {c.old} -> {c.new}" for c in params)
        word = "parameter" if len(params) == 1 else "parameters"
        parts.append(f"training {word} {listed} cannot change after training")
    if mode:
        parts.append(f"training mode {mode[0].old} -> {mode[0].new} cannot change after creation")
    if old_dataset is None or old_dataset.name != dataset_name:
        was = old_dataset.name if old_dataset is not None else f"dataset id {old.dataset_id}"
        parts.append(f"the dataset changed ({was} -> {dataset_name}) and a model trains on one dataset version")
    if not parts:
        parts.append(f"the model's definition changed since {old.name}")
    return f"{'; '.join(parts)}: new model version {new_name} ({kept})"


def _status_text(model: ObservedModel) -> str:
    if model.status == "Completed":
        n = len(model.checkpoint_steps)
        return f"trained (Completed, {n} checkpoint{'s' if n != 1 else ''})"
    return f"status {model.status}"
