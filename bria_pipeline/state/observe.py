"""Observe the remote with the fewest list calls: everything the spec owns, as an `Observed`.

A no-op plan costs three requests: list_projects, list_project_datasets, list_project_models
(the last two concurrently). Images are listed only for datasets the plan may change: drafts of
the spec's datasets, the version a changed dataset would be cloned from, and a completed version
whose image count disagrees with the spec. Never one request per image or per generation output:
generation outputs are checked in the local manifest.

Pending intents in `.bria/` are resolved here, by reading: a resource found under the intent's
deterministic name is adopted (its id recorded); otherwise the request never took effect.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ..api.client import AsyncBriaClient
from ..api.errors import NotFound
from ..api.types import Dataset, Image, Model, Project
from .manifest import Manifest
from .old_folder import load_manifest
from ..lockfile import Lock
from ..model import SHORT_HASH, Desired, DesiredDataset, content_tag
from ..identity import current_versions, model_base, owners, parse_version_name, versions_of
from .errors import AmbiguousRemoteError
from .hashing import sha256_bytes
from .observed import TRAINED, Observed, ObservedDataset, ObservedImage, ObservedModel, ObservedProject, Recorded
from .store import StateStore

INTENT_SETTLE_SECONDS = 120  # an unmatched intent younger than this may still be in flight


async def observe(
    client: AsyncBriaClient,
    desired: Desired,
    store: StateStore,
    *,
    lock: Lock | None = None,
    images: bool = True,
    manifest: bool | Manifest = True,
) -> Observed:
    """Read what exists. Updates `store` in memory (records, resolved intents); the caller saves."""
    before = client.stats.total
    projects = await client.list_projects()
    project = _find_project(projects, desired, store)
    recorded = store.recorded()
    if isinstance(manifest, Manifest):  # read from a backend by the caller
        output_manifest: Manifest | None = manifest
    else:
        output_manifest = _load_manifest(desired) if manifest else None
    if project is None:
        _resolve_intents(store, project=None, datasets=[], models=[])
        store.reset_records([])  # whatever was recorded went with the project
        return Observed(
            manifest=output_manifest,
            recorded=recorded,
            requests=client.stats.total - before,
        )
    raw_datasets, raw_models = await asyncio.gather(
        client.list_project_datasets(project.id),
        client.list_project_models(project.id, include_training_parameters=True),
    )
    datasets = [_dataset(d) for d in raw_datasets]
    if images:
        trained: dict[int, set[str]] = {}
        for m in raw_models:
            if m.status in TRAINED and m.dataset_id is not None:
                trained.setdefault(m.dataset_id, set()).add(m.name)
        wanted = datasets_needing_images(desired, datasets, recorded, lock or Lock(), trained)
        listed = await asyncio.gather(*(client.list_images(d.id) for d in wanted))
        contents = {r.id: r.contents for r in recorded if r.kind == "dataset" and r.contents}
        by_id = {d.id: tuple(_image(i, contents.get(d.id)) for i in found) for d, found in zip(wanted, listed)}
        bulk = [d for d in datasets if d.upload_type == "advanced" and not d.completed and d.count == 0 and _owned(desired, d, recorded)]
        statuses = await asyncio.gather(*(_bulk_status(client, d.id) for d in bulk))
        bulk_by_id = {d.id: s for d, s in zip(bulk, statuses)}
        datasets = [
            ObservedDataset(
                **{
                    **d.__dict__,
                    "images": by_id.get(d.id, d.images),
                    "bulk_status": bulk_by_id.get(d.id, d.bulk_status),
                }
            )
            for d in datasets
        ]
    models = [_model(m) for m in raw_models]
    observed_project = ObservedProject(
        id=project.id,
        name=project.name,
        ip_type=project.ip_type or "",
        ip_medium=project.ip_medium or "",
        description=project.description,
        ip_name=project.ip_name,
        ip_description=project.ip_description,
        training_version=project.training_version,
    )
    _resolve_intents(store, project=observed_project, datasets=datasets, models=models)
    _forget_vanished(store, datasets, models)
    record_owned(store, desired, observed_project, datasets, models)
    return Observed(
        project=observed_project,
        datasets=tuple(datasets),
        models=tuple(models),
        manifest=output_manifest,
        recorded=recorded,
        requests=client.stats.total - before,
    )


# --- the project ----------------------------------------------------------------------------------


def _find_project(projects: list[Project], desired: Desired, store: StateStore) -> Project | None:
    name = desired.project.name
    named = [p for p in projects if p.name == name]
    recorded_id = store.project_id()
    if len(named) > 1:
        chosen = [p for p in named if p.id == recorded_id]
        if chosen:
            return chosen[0]
        ids = ", ".join(str(p.id) for p in named)
        raise AmbiguousRemoteError(
            f"{len(named)} projects in the organisation are named {name!r} (ids {ids}); "
            "bria-pipeline cannot tell which one this spec owns",
            hint=f"choose one: bria-pipeline import {desired.spec_path} project {named[0].id}   (or another of: {ids})",
        )
    if named:
        return named[0]
    if recorded_id is not None:
        for p in projects:
            if p.id == recorded_id:
                return p  # renamed in the Console: still ours, the plan renames it back
    return None


# --- which datasets to list -------------------------------------------------------------------------


def _owned(desired: Desired, dataset: ObservedDataset, recorded: tuple[Recorded, ...]) -> bool:
    return bool(owners((dataset,), {k: k for k in desired.datasets}, _by_id(recorded, "dataset")))


def _by_id(recorded: tuple[Recorded, ...], kind: str) -> dict[int, Recorded]:
    return {r.id: r for r in recorded if r.kind == kind}


def datasets_needing_images(
    desired: Desired, datasets: list[ObservedDataset], recorded: tuple[Recorded, ...], lock: Lock,
    trained: dict[int, set[str]] | None = None,
) -> list[ObservedDataset]:
    """The datasets whose images the planner needs: O(datasets in the spec), never O(images).

    A completed version is listed while the spec has a model to train on it (`trained`: dataset
    id -> names of the models trained on it): a training is billed, so the version's images are
    compared with the spec's first, not just counted."""
    by_id = _by_id(recorded, "dataset")
    chosen: dict[int, ObservedDataset] = {}
    for ds in desired.datasets.values():
        versions = versions_of(ds.key, datasets, by_id)
        for v in versions:
            if not v.item.completed:
                chosen[v.item.id] = v.item
        current = current_versions(versions, lambda v: v.name.fingerprint in ds.fingerprints)
        if current:
            top = current[-1].item
            to_train = trained is not None and _trains_on(desired, ds, current[-1].name.fingerprint, trained.get(top.id, set()))
            if top.completed and (to_train or _completed_needs_listing(ds, top, lock)):
                chosen[top.id] = top
            continue
        completed = sorted((v.item for v in versions if v.item.completed), key=lambda d: d.id)
        if completed and ds.upload_type == "basic":
            chosen[completed[-1].id] = completed[-1]
    return list(chosen.values())


def _trains_on(desired: Desired, ds: DesiredDataset, version: str, trained: set[str]) -> bool:
    """Whether a model of the spec on `ds` has no trained model yet on the dataset version named
    with fingerprint `version`: none of its name (made from today's fingerprint or the version's),
    nor a revision of it."""
    for model in desired.models.values():
        if model.dataset == ds.key:
            names = {model.remote_name(ds), f"{model.base_key}-{model.fingerprint(version)}"}
            if not any(t in names or t.rpartition("-r")[0] in names for t in trained):
                return True
    return False


def _completed_needs_listing(ds: DesiredDataset, dataset: ObservedDataset, lock: Lock) -> bool:
    if ds.zip_url is None and dataset.images_count is not None:
        if dataset.images_count != len({i.content_tag for i in ds.images}):
            return True
    return any(i.caption_refine and lock.caption(i, ds.visual_schema) is None for i in ds.images)


async def _bulk_status(client: AsyncBriaClient, dataset_id: int) -> str | None:
    try:
        status = await client.bulk_upload_status(dataset_id)
    except NotFound:
        return None
    return status.status


# --- intents and records ----------------------------------------------------------------------------


def _age_seconds(started_at: str) -> float:
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return float("inf")
    return (datetime.now(timezone.utc) - started).total_seconds()


def _resolve_intents(
    store: StateStore, *, project: ObservedProject | None, datasets: list[ObservedDataset], models: list[ObservedModel]
) -> None:
    """Adopt what a pending intent created (found by its name); drop intents that never took effect.

    An unmatched intent younger than INTENT_SETTLE_SECONDS is kept: the executor reads once more
    before sending a request that could duplicate it.
    """
    found: dict[tuple[str, str], int] = {}
    if project is not None:
        found[("project", project.name)] = project.id
    for d in datasets:
        found[("dataset", d.name)] = d.id
    for m in models:
        found[("model", m.name)] = m.id
    keep = []
    for intent in store.intents:
        hit = found.get((intent.kind, intent.name))
        if intent.op in ("create_project", "create_dataset", "clone_dataset", "create_model") and hit is not None:
            store.record(intent.kind, hit, intent.name, intent.key, save=False)
            continue
        if hit is None and intent.op.startswith(("create", "clone")) and _age_seconds(intent.started_at) < INTENT_SETTLE_SECONDS:
            keep.append(intent)
    store.intents = keep


def _forget_vanished(store: StateStore, datasets: list[ObservedDataset], models: list[ObservedModel]) -> None:
    """Drop records of datasets and models the complete listing no longer shows (deleted outside
    bria-pipeline). `Observed.recorded` keeps them for this one plan, which says so."""
    listed = {("dataset", d.id) for d in datasets} | {("model", m.id) for m in models}
    store.reset_records([r for r in store.records if r.kind == "project" or (r.kind, r.id) in listed])


def record_owned(
    store: StateStore, desired: Desired, project: ObservedProject, datasets: list[ObservedDataset], models: list[ObservedModel]
) -> None:
    """Record every remote resource the spec owns by name (so a later rename is recognised)."""
    known = {(r.kind, r.id): r for r in store.records}
    if project.name == desired.project.name or store.project_id() == project.id:
        store.record("project", project.id, desired.project.name, save=False)
    for d in datasets:
        for key in desired.datasets:
            if parse_version_name(key, d.name) is not None and ("dataset", d.id) not in known:
                store.record("dataset", d.id, d.name, key, save=False)
            elif parse_version_name(key, d.name) is not None and known[("dataset", d.id)].name != d.name:
                store.record("dataset", d.id, d.name, key, save=False)
    bases = {model_base(k): k for k in desired.models}
    for m in models:
        for base, key in bases.items():
            if parse_version_name(base, m.name) is not None:
                rec = known.get(("model", m.id))
                if rec is None or rec.name != m.name:
                    store.record("model", m.id, m.name, rec.key if rec and rec.key else key, save=False)


# --- API types to observed types --------------------------------------------------------------------


def _image(image: Image, contents: dict[str, str] | None = None) -> ObservedImage:
    return ObservedImage(
        id=image.id,
        image_name=image.image_name or "",
        caption=image.caption,
        caption_source=image.caption_source,
        content=(contents or {}).get(str(image.id)),
    )


# --- import -----------------------------------------------------------------------------------------

IMPORT_READS = 8  # image downloads in flight while `import` identifies a dataset's images


async def image_contents(client: AsyncBriaClient, dataset_id: int) -> dict[str, str]:
    """Image id -> content hash of every image of a dataset, read once by `import`, so images
    uploaded under other names (by hand, in the Console) are recognised by their content."""
    images = await client.list_images(dataset_id)
    gate = asyncio.Semaphore(IMPORT_READS)

    async def read(image: Image) -> tuple[str, str] | None:
        tag = content_tag(image.image_name)
        if tag is not None:
            return str(image.id), tag
        if not image.image_url:
            return None
        async with gate:
            data = await client.fetch_bytes(image.image_url)
        return str(image.id), sha256_bytes(data)[:SHORT_HASH]

    found = await asyncio.gather(*(read(i) for i in images))
    return dict(pair for pair in found if pair is not None)


def mark_imported(store: StateStore, kind: str, id: int, contents: dict[str, str] | None = None) -> None:
    """Flag a record as adopted with `import` (its differences from the spec are not drift)."""
    store.records = [
        replace(r, imported=True, contents=contents if contents is not None else r.contents)
        if r.kind == kind and r.id == id
        else r
        for r in store.records
    ]


def _dataset(dataset: Dataset) -> ObservedDataset:
    return ObservedDataset(
        id=dataset.id,
        name=dataset.name,
        status=dataset.status or "draft",
        upload_type=dataset.upload_type or "basic",
        captions_update_status=dataset.captions_update_status,
        visual_schema=dataset.visual_schema,
        images_count=dataset.images_count,
        images=tuple(_image(i) for i in dataset.images) if dataset.images else None,
        training_version=getattr(dataset, "training_version", None),
    )


def _model(model: Model) -> ObservedModel:
    return ObservedModel(
        id=model.id,
        name=model.name,
        status=model.status or "Created",
        training_mode=model.training_mode or "fully_automated",
        dataset_id=model.dataset_id,
        description=model.description,
        training_parameters=model.training_parameters.as_body(),
        checkpoint_steps=tuple(model.checkpoint_steps),
        active_model_version=model.active_model_version,
    )


def _load_manifest(desired: Desired) -> Manifest | None:
    return load_manifest(desired)  # also finds outputs made at the old default folder, outputs/
