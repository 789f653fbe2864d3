"""Earlier versions and resources dropped from the spec: kept unless --prune.

Only what this spec owns is ever considered: versions named after one of its datasets or models,
and resources `.bria/` recorded as made by it. Anything else in the project is never touched.
A model is deleted before the dataset it trained on; deleting anything trained needs approval.
(Outputs the spec no longer asks for are planned in plan/generation_steps.py.)
"""

from __future__ import annotations

from .. import addresses
from ..identity import model_base, model_owner_keys, owners, sweep_member
from ..state.observed import ObservedDataset, ObservedModel
from .actions import Action, Change
from .context import PlanContext
from .steps import DeleteDataset, DeleteModel


def owned_models(ctx: PlanContext) -> list[tuple[str, ObservedModel]]:
    """Every remote model this spec owns, with the spec key (or recorded key) it belongs to; a
    version of a training sweep belongs to the member trained with its values
    (``lucy-lora[rank=32]``), else to the sweep's name (``lucy-lora``)."""
    members = {key: m.sweep for key, m in ctx.desired.models.items()}
    return [
        (sweep_member(owner, model.training_parameters or {}, members), model)
        for owner, model in owners(ctx.models, model_owner_keys(members), ctx.observed.recorded_by_id("model"))
    ]


def owned_datasets(ctx: PlanContext) -> list[tuple[str, ObservedDataset]]:
    return owners(ctx.datasets, {k: k for k in ctx.desired.datasets}, ctx.observed.recorded_by_id("dataset"))


def delete_model_action(ctx: PlanContext, owner: str, model: ObservedModel, address: str, reason: str) -> Action:
    stop_first = model.status == "InProgress"
    if stop_first:
        reason += "; its training is in progress and is stopped first (it cannot be resumed)"
    return ctx.emit(
        Action(
            address,
            "delete",
            reason,
            changes=(Change("name", model.name, None), Change("status", model.status, None)),
            step=DeleteModel(owner, model.id, model.name, stop_first),
            approval=model.trained,
        )
    )


def delete_dataset_action(ctx: PlanContext, owner: str, dataset: ObservedDataset, address: str, reason: str, depends: tuple[str, ...]) -> Action:
    return ctx.emit(
        Action(
            address,
            "delete",
            reason,
            changes=(Change("name", dataset.name, None), Change("images", dataset.count, None)),
            depends_on=depends,
            step=DeleteDataset(owner, dataset.id, dataset.name),
        )
    )


def plan_prune(ctx: PlanContext) -> None:
    kept_model_ids = {o.observed.id for o in ctx.model_outcomes.values() if o.observed is not None}
    current_dataset_ids = {o.observed.id for o in ctx.dataset_outcomes.values() if o.observed is not None and not o.fresh}
    kept: list[str] = []
    deleted_models: dict[int, str] = {}
    for owner, model in owned_models(ctx):
        if model.id in kept_model_ids:
            continue
        gone = owner not in ctx.desired.models and model_base(owner) not in {model_base(k) for k in ctx.desired.models}
        if not ctx.prune:
            kept.append(f"model {model.name}")
            continue
        why = "no longer in the spec" if gone else "an earlier version of the spec's model"
        address = addresses.model_version(owner, model.name)
        delete_model_action(ctx, owner, model, address, f"{why}: --prune deletes it")
        deleted_models[model.id] = address
    for owner, dataset in owned_datasets(ctx):
        if dataset.id in current_dataset_ids:
            continue
        if any(o.observed is not None and o.observed.id == dataset.id and not o.fresh for o in ctx.dataset_outcomes.values()):
            continue
        if not ctx.prune:
            kept.append(f"dataset {dataset.name}")
            continue
        users = [m for m in ctx.models if m.dataset_id == dataset.id and m.id not in deleted_models]
        if users:
            ctx.notes.append(f"dataset {dataset.name} is kept: model {users[0].name} uses it")
            continue
        why = "no longer in the spec" if owner not in ctx.desired.datasets else "an earlier version of the spec's dataset"
        depends = tuple(deleted_models[m.id] for m in ctx.models if m.dataset_id == dataset.id and m.id in deleted_models)
        delete_dataset_action(ctx, owner, dataset, addresses.dataset_version(owner, dataset.name), f"{why}: --prune deletes it", depends)
    if kept:
        listed = ", ".join(kept[:6]) + (f" and {len(kept) - 6} more" if len(kept) > 6 else "")
        ctx.notes.append(f"earlier versions kept: {listed} (apply --prune deletes them)")
