"""`show`: every resource the spec owns, as plain data (printed as a table or JSON by the CLI)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import addresses
from ..identity import model_owner_keys, owners, sweep_member
from ..model import Desired
from ..plan.document import Plan
from ..state.observed import Observed, ObservedDataset
from ..state.store import StateStore
from .gallery import output_address


def describe_state(desired: Desired, observed: Observed, plan: Plan, store: StateStore) -> dict[str, Any]:
    project = observed.project
    out: dict[str, Any] = {
        "spec": str(desired.spec_path),
        "project": None
        if project is None
        else {
            "id": project.id,
            "name": project.name,
            "ip_type": project.ip_type,
            "ip_medium": project.ip_medium,
            "description": project.description,
        },
        "datasets": [],
        "models": [],
        "outputs": _outputs(observed, desired),
        "plan": plan.summary_line(),
        "pending_intents": [i.describe() for i in store.intents],
        "last_apply": store.last_apply,
        "requests": observed.requests,
    }
    datasets = owners(observed.datasets, {k: k for k in desired.datasets}, observed.recorded_by_id("dataset"))
    # members of a training sweep share a name base: the plan's bindings say which version is whose,
    # an earlier version belongs to the member trained with its values
    parsed = [(addresses.parse(address), model_id) for address, model_id in plan.bindings.items()]
    bound = {model_id: a.key for a, model_id in parsed if a.kind == "model" and a.part is None}
    members = {key: m.sweep for key, m in desired.models.items()}
    models = [
        (bound.get(m.id) or sweep_member(owner, m.training_parameters or {}, members), m)
        for owner, m in owners(observed.models, model_owner_keys(members), observed.recorded_by_id("model"))
    ]
    named = Counter(m.name for _, m in models)
    for key, ds in desired.datasets.items():
        current = plan.bindings.get(addresses.dataset(key))
        for d in (d for owner, d in datasets if owner == key):
            out["datasets"].append(
                {
                    "key": key,
                    "id": d.id,
                    "name": d.name,
                    "status": d.status,
                    "upload_type": d.upload_type,
                    "images": d.count,
                    "wanted_images": len(ds.images),
                    "captions": caption_summary(d),
                    "captions_update_status": d.captions_update_status,
                    "current": d.id == current,
                }
            )
    for key in [*desired.models, *sorted({owner for owner, _ in models} - set(desired.models))]:
        current = plan.bindings.get(addresses.model(key))
        for model in (m for owner, m in models if owner == key):
            total = model.training_parameters.get("total_training_steps")
            reached = max(model.checkpoint_steps, default=0)
            if model.status == "Completed" and total:
                reached = total
            out["models"].append(
                {
                    "key": key,
                    "id": model.id,
                    "name": model.name,
                    "status": model.status,
                    "training_mode": model.training_mode,
                    "dataset_id": model.dataset_id,
                    "parameters": model.training_parameters,
                    "checkpoints": sorted(model.checkpoint_steps),
                    "progress": f"{reached}/{total} steps" if total else None,
                    "current": model.id == current,
                    "same_name": named[model.name],  # > 1: remote models sharing one name
                }
            )
    return out


def _outputs(observed: Observed, desired: Desired) -> dict[str, int]:
    """Outputs by status; with a decisions file, also approved / rejected / undecided (those with a file)."""
    manifest = observed.manifest
    if manifest is None:
        return {"total": 0}
    counts = {"total": len(manifest), "done": 0, "pending": 0, "failed": 0, "retired": 0, "missing": 0}
    for record in manifest:
        counts[record.status] = counts.get(record.status, 0) + 1
        if record.retired:
            counts["retired"] += 1
        if record.status == "done" and not manifest.is_complete(record.key):
            counts["missing"] += 1
    if desired.decisions.file:
        counts.update(desired.decisions.count((r.key, output_address(r)) for r in manifest if r.file))
    return counts


def caption_summary(dataset: ObservedDataset) -> str | None:
    """What a person wants to know of a dataset's captions: how many of each source, or that a
    regeneration runs. (`captions_update_status` alone says "empty" for captions made at upload.)"""
    if dataset.captions_update_status == "in_progress":
        return "regenerating"
    if dataset.images is None:
        return None
    sources = [image.caption_source if image.has_caption else "missing" for image in dataset.images]
    counts = {source: sources.count(source) for source in ("automatic", "manual", "missing") if source in sources}
    return ", ".join(f"{n} {source}" for source, n in counts.items()) or None
