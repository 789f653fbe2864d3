"""plan(desired, observed, lock) -> Plan: the pure heart of bria-pipeline.

No I/O here: the same three inputs always give the same plan, so every rule is tested with plain
data. The order of actions is a valid execution order; `depends_on` says which steps really wait
for which, so the executor runs the rest concurrently.

Rules live in one module per resource: datasets.py, models.py, generations.py, prune.py.
"""

from __future__ import annotations

import difflib
from typing import Iterable

from .. import addresses
from ..lockfile import Lock
from ..model import Desired, DesiredProject
from ..state.observed import Observed
from .actions import Action, Change
from .context import PlanContext
from .datasets import plan_dataset
from .document import Plan
from .errors import LegacyTrainingVersion, PlanError
from .generations import plan_generations
from ..identity import model_base, owners
from .models import model_fingerprints, plan_model
from .steps import CreateProject, DeleteProject, ReplaceProject, UpdateProject
from .prune import delete_dataset_action, delete_model_action, owned_datasets, owned_models, plan_prune


def plan(desired: Desired, observed: Observed, lock: Lock, *, prune: bool = False, targets: Iterable[str] = (),
         replace: Iterable[str] = ()) -> Plan:
    """Compare what the spec asks for with what exists; return the ordered actions to get there.

    `replace` (--replace ADDR): make these again although they are up to date: a model is trained
    again as a new version (model.KEY), an output generated again (generation.SET[NAME], video.NAME), an
    image of a draft dataset deleted and uploaded again (dataset.KEY.image[PATH]).
    """
    ctx = PlanContext(desired, observed, lock, prune=prune, datasets=observed.datasets, models=observed.models,
                      replace=frozenset(replace))
    refuse_legacy(desired, observed)
    _plan_project(ctx)
    for dataset in desired.datasets.values():
        plan_dataset(ctx, dataset)
    claimed: set[int] = set()
    own: dict[str, set[str]] = {}
    by_base: dict[str, set[str]] = {}
    for model in desired.models.values():
        if model.dataset in desired.datasets:
            own[model.key] = set(model_fingerprints(ctx, model))
            by_base.setdefault(model_base(model.key), set()).update(own[model.key])
    for model in desired.models.values():
        mine = own.get(model.key, set())
        plan_model(ctx, model, claimed, frozenset(by_base.get(model_base(model.key), set()) - mine))
    plan_generations(ctx)
    refuse_unknown_replace(ctx)
    plan_prune(ctx)
    return _finish(ctx, "apply", tuple(targets))


def refuse_unknown_replace(ctx: PlanContext) -> None:
    """--replace of an address this plan cannot make again: a clear error naming the close ones."""
    replaceable = ctx.replaceable | {addresses.model(key) for key in ctx.desired.models}
    for address in sorted(ctx.replace):
        if address in replaceable:
            continue
        close = difflib.get_close_matches(address, sorted(replaceable), n=4, cutoff=0.4)
        listed = sorted(replaceable)
        known = ", ".join(listed[:8]) + (f" and {len(listed) - 8} more" if len(listed) > 8 else "")
        raise PlanError(f"--replace {address}: no such address in this spec that can be made again",
                        hint=(f"did you mean {' or '.join(close)}? " if close else "")
                        + "--replace takes a model (model.KEY: trained again as a new version), an output "
                          "(generation.SET[NAME], video.NAME) or an image of a draft dataset (dataset.KEY.image[PATH]): "
                          f"{known or 'none in this spec'}")


def plan_destroy(desired: Desired, observed: Observed, lock: Lock) -> Plan:
    """Delete what this spec owns, in reverse dependency order: stop training, models, datasets, project.

    The project goes last, and only when nothing this spec does not own is left in it.
    """
    ctx = PlanContext(desired, observed, lock, datasets=observed.datasets, models=observed.models)
    if observed.project is None:
        return _finish(ctx, "destroy", ())
    ctx.bindings["project"] = observed.project.id
    models = owned_models(ctx)
    datasets = owned_datasets(ctx)
    model_addresses: dict[int, str] = {}
    for owner, model in models:
        address = addresses.model_version(owner, model.name)
        delete_model_action(ctx, owner, model, address, f"owned by this spec ({model.status})")
        model_addresses[model.id] = address
    owned_model_ids = {m.id for _, m in models}
    foreign_models = [m for m in ctx.models if m.id not in owned_model_ids]
    dataset_addresses = []
    for owner, dataset in datasets:
        users = [m for m in foreign_models if m.dataset_id == dataset.id]
        if users:
            ctx.notes.append(f"dataset {dataset.name} is kept: model {users[0].name}, which this spec does not own, uses it")
            continue
        address = addresses.dataset_version(owner, dataset.name)
        depends = tuple(model_addresses[m.id] for _, m in models if m.dataset_id == dataset.id)
        delete_dataset_action(ctx, owner, dataset, address, "owned by this spec", depends)
        dataset_addresses.append(address)
    owned_dataset_ids = {d.id for _, d in datasets}
    foreign = [d.name for d in ctx.datasets if d.id not in owned_dataset_ids] + [m.name for m in foreign_models]
    if foreign:
        ctx.notes.append(
            f"project {observed.project.name} is kept: it holds {len(foreign)} resource(s) this spec does not own "
            f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
        )
    else:
        ctx.emit(
            Action(
                "project",
                "delete",
                "owned by this spec, and nothing else is left in it",
                changes=(Change("project_name", observed.project.name, None),),
                depends_on=tuple(model_addresses.values()) + tuple(dataset_addresses),
                step=DeleteProject(observed.project.id),
                approval=any(m.trained for _, m in models),
            )
        )
    if desired.generation is not None and observed.manifest is not None and len(observed.manifest):
        ctx.notes.append(f"generated outputs in {desired.generation.output_dir} are local files and are kept")
    return _finish(ctx, "destroy", ())


# --- training version -------------------------------------------------------------------------

LEGACY_TRAINING_VERSIONS = ("max", "light")
WHY_FIBO = ("visual schemas, structured captions and v2 tailored generation work only with fibo, "
            "and a fibo dataset cannot be created in a legacy project")


def refuse_legacy(desired: Desired, observed: Observed) -> None:
    """A project or owned dataset made for a legacy training version (max, light; e.g. an old
    project with the spec's name) is refused before anything is sent: nothing this spec makes can
    go into it. A project not locked yet (None) or a fibo one is fine."""
    project = observed.project
    if project is None:
        return
    spec = desired.spec_path
    other_name = f"give the spec another project name (project.name in {spec}) so a new fibo project is made"
    fix = f"{other_name}, or adopt a fibo project: bria-pipeline import {spec} project <ID>"
    if _legacy(project.training_version):
        raise _refusal(f"project {project.name!r} (id {project.id})", project.training_version, fix)
    recorded = {r.id: r for r in observed.recorded if r.kind == "dataset"}
    for _, dataset in owners(observed.datasets, {key: key for key in desired.datasets}, recorded):
        if _legacy(dataset.training_version):
            raise _refusal(f"dataset {dataset.name!r} (id {dataset.id}) in project {project.name!r}",
                           dataset.training_version, f"{other_name}, or delete that dataset in the Console")
    legacy = [d for d in observed.datasets if _legacy(d.training_version)]
    if project.training_version is None and legacy:  # not locked by the API, but legacy inside
        raise _refusal(f"project {project.name!r} (id {project.id}) holds dataset {legacy[0].name!r}, which",
                       legacy[0].training_version, fix)


def _legacy(version: str | None) -> bool:
    return (version or "").lower() in LEGACY_TRAINING_VERSIONS


def _refusal(what: str, version: str | None, fix: str) -> LegacyTrainingVersion:
    return LegacyTrainingVersion(
        f"{what} has training_version {version!r}, a legacy training version: {WHY_FIBO}; nothing was sent",
        hint=fix,
    )


# --- project ------------------------------------------------------------------------------------


def project_body(project: DesiredProject) -> dict[str, str]:
    body = {"project_name": project.name, "ip_type": project.ip_type, "ip_medium": project.ip_medium}
    for field, remote in (("description", "project_description"), ("ip_name", "ip_name"), ("ip_description", "ip_description")):
        value = getattr(project, field)
        if value is not None:
            body[remote] = value
    return body


REMOTE_FIELD = {"description": "project_description", "ip_name": "ip_name", "ip_description": "ip_description"}


def _plan_project(ctx: PlanContext) -> None:
    want = ctx.desired.project
    have = ctx.observed.project
    body = project_body(want)
    if have is None:
        gone = ctx.gone("project")
        ctx.emit(
            Action(
                "project",
                "create",
                (f"{gone}; " if gone else "") + f"no project named {want.name!r} in the organisation yet",
                changes=tuple(Change(k, None, v) for k, v in body.items()),
                step=CreateProject(body),
            )
        )
        return
    ctx.bindings["project"] = have.id
    fixed = [Change(f, getattr(have, f), getattr(want, f)) for f in DesiredProject.IMMUTABLE if getattr(have, f) != getattr(want, f)]
    if fixed:
        rename_to = f"{want.name} (replaced: was {have.ip_type}/{have.ip_medium})"
        fate = "deleted (--prune)" if ctx.prune else f"kept, renamed to {rename_to!r}"
        listed = " and ".join(f"{c.attribute} {c.old} -> {c.new}" for c in fixed)
        ctx.emit(
            Action(
                "project",
                "replace",
                f"{listed}: fixed when a project is created, so a new project {want.name!r} is made; "
                f"the old one (id {have.id}, with its datasets and models) is {fate}",
                changes=tuple(fixed),
                step=ReplaceProject(body, old_id=have.id, old="delete" if ctx.prune else "rename", rename_to=rename_to),
                approval=True,
            )
        )
        ctx.bindings.pop("project")
        ctx.datasets = ()
        ctx.models = ()
        return
    changes = []
    if have.name != want.name:
        changes.append(Change("project_name", have.name, want.name))
    for field in DesiredProject.MUTABLE:
        value = getattr(want, field)
        if value is not None and (value or None) != (getattr(have, field) or None):
            changes.append(Change(REMOTE_FIELD[field], getattr(have, field), value))
    if not changes:
        ctx.emit(Action("project", "noop", f"{have.name} (id {have.id}) matches the spec"))
        return
    reason = ""
    if have.name != want.name and ctx.imported("project", have.id):
        reason = f"imported as {have.name!r}: project_name differs from the spec: updated in place"
    elif have.name != want.name:
        reason = "renamed outside bria-pipeline (drift): its name is restored"
    others = [c.attribute for c in changes if c.attribute != "project_name"]
    if others:
        verb = "differs" if len(others) == 1 else "differ"
        reason = (reason + "; " if reason else "") + f"{', '.join(others)} {verb} from the spec: updated in place"
    ctx.emit(
        Action(
            "project",
            "update",
            reason,
            changes=tuple(changes),
            step=UpdateProject({c.attribute: c.new for c in changes}),
        )
    )


# --- finishing ------------------------------------------------------------------------------------


def _finish(ctx: PlanContext, operation: str, targets: tuple[str, ...]) -> Plan:
    actions = tuple(ctx.actions)
    if targets:
        actions = select_targets(actions, targets)
    return Plan(
        actions=actions,
        spec_path=str(ctx.desired.spec_path),
        project_name=ctx.desired.project.name,
        source_hash=ctx.desired.source_hash,
        text_hash=ctx.desired.text_hash,
        files_hash=ctx.desired.files_hash,
        observed_hash=ctx.observed.fingerprint(),
        lock_hash=ctx.lock.fingerprint(),
        operation=operation,  # type: ignore[arg-type]
        prune=ctx.prune,
        targets=targets,
        replace=tuple(sorted(ctx.replace)),
        notes=tuple(ctx.notes),
        bindings=dict(ctx.bindings),
        requests=ctx.observed.requests,
    )


def address_matches(address: str, target: str) -> bool:
    """``dataset.lucy`` matches itself, ``dataset.lucy.schema`` and ``dataset.lucy.image[...]``."""
    return address == target or address.startswith(target + ".") or address.startswith(target + "[")


def select_targets(actions: tuple[Action, ...], targets: tuple[str, ...]) -> tuple[Action, ...]:
    """Keep the actions at or under the targets, plus everything they depend on."""
    by_address = {a.address: a for a in actions}
    unknown = [t for t in targets if not any(address_matches(a.address, t) for a in actions)]
    if unknown:
        known = sorted({addresses.family(a.address) for a in actions})
        raise PlanError(
            f"--target {unknown[0]} matches nothing in this plan",
            hint=f"addresses in this plan: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''}",
        )
    keep: set[str] = set()
    stack = [a.address for a in actions if any(address_matches(a.address, t) for t in targets)]
    while stack:
        address = stack.pop()
        if address in keep:
            continue
        keep.add(address)
        action = by_address.get(address)
        if action is not None:
            stack.extend(action.depends_on)
    return tuple(a for a in actions if a.address in keep)
