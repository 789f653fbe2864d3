"""Planning one dataset: which remote version to carry on with, then its schema and status
(images: dataset_images.py; captions: dataset_captions.py).

Choosing the version (first match wins):

1. *current*: a version named with the spec's fingerprint (``lucy-1a2b3c4d``, or a revision
   ``lucy-1a2b3c4d-r2``). A draft is brought up to date in place. A completed one is frozen: when it
   still holds what the spec says, nothing to do; when it does not (it was completed by hand with
   other images), a new revision is cloned from it.
2. *reuse*: an older draft of the same dataset (never trained on, not frozen): renamed to the new
   fingerprint and brought up to date, so its uploads are not repeated.
3. *clone*: the latest completed version: cloned under the new name, then only the differences are
   uploaded or deleted ("completed datasets are frozen").
4. *create*: nothing to start from (or an advanced dataset: one bulk upload per dataset).
"""

from __future__ import annotations


from .. import addresses
from ..identity import Version, current_versions, version_name
from ..model import DesiredDataset
from ..state.observed import ObservedDataset
from .actions import Action, ActionKind, Change
from .context import DatasetOutcome, PlanContext, brief
from .dataset_captions import plan_captions
from .dataset_images import plan_bulk, plan_images, plan_moved, refuse_frozen_reupload
from .dataset_target import Target, desired_caption, desired_schema_text, unique_images
from .errors import PlanError
from .steps import CloneDataset, CompleteDataset, CreateDataset, PinCaption, PinVisualSchema, RenameDataset, SchemaSource, VisualSchema


def plan_dataset(ctx: PlanContext, ds: DesiredDataset) -> DatasetOutcome:
    address = addresses.dataset(ds.key)
    versions = ctx.dataset_versions(ds.key)
    target = _choose_target(ctx, ds, versions)
    for version in versions:
        if target.mode in ("current", "reuse") and version.item is target.dataset:
            continue
        ctx.old_datasets.append((ds.key, version.item))

    if target.mode == "current" and target.dataset is not None and target.dataset.completed:
        refuse_frozen_reupload(ctx, ds, target)
        return _completed_current(ctx, ds, target, address)
    if target.mode in ("current", "reuse") and target.dataset is not None and target.dataset.images is None and target.dataset.count:
        # planning uploads against an unknown listing could upload every image twice
        raise PlanError(
            f"the images of draft dataset {target.dataset.name} were not listed, so no plan can be made for it",
            hint="observe with images (the default): state.observe(..., images=True)",
        )

    _dataset_action(ctx, ds, target, address)
    if target.mode in ("current", "reuse"):
        ctx.bindings[address] = target.dataset.id  # type: ignore[union-attr]

    schema_address, schema_set = _schema(ctx, ds, target, address)
    if ds.upload_type == "advanced":
        image_addresses, kept, uploaded = plan_bulk(ctx, ds, target, address, schema_address)
    else:
        image_addresses, kept, uploaded = plan_images(ctx, ds, target, address, schema_address)
    caption_addresses = plan_captions(ctx, ds, target, address, schema_address, schema_set, kept, uploaded, image_addresses)
    ready = ctx.deps(address, schema_address, *image_addresses, *caption_addresses)
    status_address = addresses.dataset(ds.key, "status")
    if ds.complete:
        ctx.emit(
            Action(
                status_address,
                "update",
                "images and captions are in: mark the dataset completed (it is frozen from then on)",
                changes=(Change("status", "draft", "completed"),),
                depends_on=ready,
                step=CompleteDataset(ds.key),
            )
        )
        ready = (status_address,)
    else:
        ctx.notes.append(f"{addresses.dataset(ds.key)}: `complete: false` in the spec, so it stays a draft and no model can train on it")
    fresh = target.mode in ("clone", "create")
    outcome = DatasetOutcome(ds.key, target.name, target.dataset, ready_after=ready, fresh=fresh)
    ctx.dataset_outcomes[ds.key] = outcome
    return outcome


# --- choosing the version ---------------------------------------------------------------------


def _is_current(ds: DesiredDataset, version: Version[ObservedDataset]) -> bool:
    """Named after the spec's content: today's fingerprint, or the one earlier releases gave it
    (under the image names the version holds, so a file renamed since still matches)."""
    fingerprint = version.name.fingerprint
    if fingerprint in ds.fingerprints:
        return True
    images = version.item.images
    return images is not None and fingerprint == ds.legacy_fingerprint(version.item.image_names())


def _choose_target(ctx: PlanContext, ds: DesiredDataset, versions: list[Version[ObservedDataset]]) -> Target:
    current = current_versions(versions, lambda v: _is_current(ds, v))
    if current:
        top = current[-1]
        mismatch = _mismatch(ctx, ds, top.item)
        if mismatch is None:
            return Target("current", str(top.name), top.item, top.renamed_to)
        revision = max((v.name.revision for v in current if v.name.fingerprint == ds.fingerprint), default=0) + 1
        name = version_name(ds.key, ds.fingerprint, revision)
        if ds.upload_type == "basic" and top.item.images is not None:
            return Target("clone", name, top.item, mismatch=mismatch)
        return Target("create", name, None, mismatch=mismatch)
    drafts = sorted(
        (v for v in versions if not v.item.completed and _reusable_draft(ds, v.item)),
        key=lambda v: v.item.id,
    )
    if drafts:
        top = drafts[-1]
        return Target("reuse", ds.remote_name, top.item, top.renamed_to)
    completed = sorted((v for v in versions if v.item.completed), key=lambda v: v.item.id)
    if completed and ds.upload_type == "basic" and completed[-1].item.images is not None:
        return Target("clone", ds.remote_name, completed[-1].item)
    return Target("create", ds.remote_name, None)


def _reusable_draft(ds: DesiredDataset, dataset: ObservedDataset) -> bool:
    if dataset.upload_type != ds.upload_type or dataset.images is None:
        return False
    if ds.upload_type == "advanced":
        return dataset.count == 0 and dataset.bulk_status is None
    return True


def _mismatch(ctx: PlanContext, ds: DesiredDataset, dataset: ObservedDataset) -> str | None:
    """Why a version named with the spec's fingerprint cannot be carried on with, or None."""
    if dataset.upload_type != ds.upload_type:
        return f"it is an {dataset.upload_type} dataset and the spec asks for {ds.upload_type}"
    if ds.upload_type == "advanced" and not dataset.completed:
        if dataset.bulk_status == "failed":
            return "its bulk upload failed, and an advanced dataset takes one bulk upload"
        return None
    if not dataset.completed:
        return None
    schema = desired_schema_text(ctx, ds)
    if schema is not None and dataset.visual_schema is not None and dataset.visual_schema != schema:
        return "its visual schema differs from the one pinned in the lock file"
    if ds.zip_url is not None:
        return None
    wanted = sorted(i.content_tag for i in unique_images(ds.images))
    if dataset.images is not None:
        have = sorted(i.tag for i in dataset.images)
        if have != wanted:
            missing = len(set(wanted) - set(have))
            extra = len(have) - (len(wanted) - missing)
            return f"it holds other images than the spec ({missing} missing, {extra} extra)"
        for image in ds.images:
            want = desired_caption(ctx, ds, image)
            if want is None:
                continue
            obs = dataset.images_by_tag().get(image.content_tag, [None])[0]
            if obs is not None and obs.caption != want:
                return f"the caption of {image.key} differs from the spec"
    elif dataset.images_count is not None and dataset.images_count != len(wanted):
        return f"it holds {dataset.images_count} images and the spec lists {len(wanted)}"
    return None


# --- the dataset itself -------------------------------------------------------------------------


def _dataset_action(ctx: PlanContext, ds: DesiredDataset, target: Target, address: str) -> None:
    if target.mode == "current":
        if target.renamed_to:
            _rename_back(ctx, ds, target, address)
        else:
            ctx.emit(Action(address, "noop", f"{target.name}: draft, brought up to date below"))
        return
    if target.mode == "reuse":
        assert target.dataset is not None
        old = target.renamed_to or target.dataset.name
        ctx.emit(
            Action(
                address,
                "update",
                f"the spec's dataset changed; draft {target.dataset.name} was never completed, so it is "
                f"renamed to {target.name} and brought up to date instead of starting again",
                changes=(Change("name", old, target.name),),
                step=RenameDataset(ds.key, target.name),
            )
        )
        return
    depends = ctx.deps("project")
    if target.mode == "clone":
        assert target.dataset is not None
        source = target.dataset
        adds = len({i.content_tag for i in ds.images} - {i.tag for i in source.images or ()})
        drops = len({i.tag for i in source.images or ()} - {i.content_tag for i in ds.images})
        if target.mismatch:
            reason = (
                f"completed dataset {source.name} does not match the spec: {target.mismatch}; completed "
                f"datasets are frozen: new version {target.name} cloned from it"
            )
        else:
            reason = (
                f"completed datasets are frozen: new version {target.name} cloned from {source.name}, "
                f"unchanged images are not uploaded again"
            )
        reason += _exclusions(ctx, ds)
        ctx.emit(
            Action(
                address,
                "replace",
                reason,
                changes=(Change("name", source.name, target.name), Change("images", source.count, f"{source.count + adds - drops} (+{adds} -{drops})")),
                depends_on=depends,
                step=CloneDataset(ds.key, target.name, source.id, source.name),
            )
        )
        return
    # create
    previous = [d for k, d in ctx.old_datasets if k == ds.key]
    kind: ActionKind = "create"
    reason = f"new dataset {target.name} ({ds.upload_type} upload, {len(ds.images)} images)"
    gone = ctx.gone("dataset", ds.key)
    if gone:
        reason = f"{gone}; {reason}"
    if target.mismatch:
        kind = "replace"
        reason = f"dataset {ds.remote_name} cannot be carried on with: {target.mismatch}: new version {target.name}"
    elif previous and ds.upload_type == "advanced":
        kind = "replace"
        reason = (
            f"the spec's dataset changed and an advanced dataset takes exactly one bulk upload: "
            f"new version {target.name} (earlier versions are kept)"
        )
    elif previous:
        kind = "replace"
        reason = f"the spec's dataset changed: new version {target.name} (earlier versions are kept)"
    if kind == "replace":
        reason += _exclusions(ctx, ds)
    ctx.emit(
        Action(
            address,
            kind,
            reason,
            changes=(Change("name", None, target.name),),
            depends_on=depends,
            step=CreateDataset(ds.key, target.name, ds.upload_type),
        )
    )


def _rename_back(ctx: PlanContext, ds: DesiredDataset, target: Target, address: str) -> None:
    if target.dataset is not None and ctx.imported("dataset", target.dataset.id):
        reason = f"imported as {target.renamed_to!r}: renamed to {target.name}, the name that identifies the spec's content"
    else:
        reason = "renamed outside bria-pipeline (drift): the name that identifies it is restored"
    ctx.emit(
        Action(
            address,
            "update",
            reason,
            changes=(Change("name", target.renamed_to, target.name),),
            step=RenameDataset(ds.key, target.name),
        )
    )


def _completed_current(ctx: PlanContext, ds: DesiredDataset, target: Target, address: str) -> DatasetOutcome:
    """A completed version that matches the spec: nothing remote to do; pin what the lock lacks."""
    dataset = target.dataset
    assert dataset is not None
    ctx.bindings[address] = dataset.id
    if target.renamed_to:
        _rename_back(ctx, ds, target, address)
    else:
        ctx.emit(Action(address, "noop", f"{target.name}: completed, {dataset.count} images"))
    vs = ds.visual_schema
    if desired_schema_text(ctx, ds) is None and dataset.visual_schema and (vs.samples or vs.text is not None):
        ctx.emit(
            Action(
                addresses.dataset(ds.key, "schema"),
                "create",
                f"the lock file has no pin for these schema inputs: pinned from {target.name}, which was made from them",
                changes=(Change("lock: visual_schema", None, brief(dataset.visual_schema)),),
                step=PinVisualSchema(ds.key),
            )
        )
    plan_moved(ctx, ds, target, address)
    by_tag = dataset.images_by_tag()
    for image in ds.images:
        if image.caption_refine and ctx.lock.caption(image, vs) is None:
            obs = by_tag.get(image.content_tag, [None])[0]
            if obs is not None and obs.caption:
                ctx.emit(
                    Action(
                        addresses.dataset_caption(ds.key, image.key),
                        "create",
                        f"the lock file has no pin for this refined caption: pinned from {target.name}",
                        step=PinCaption(ds.key, image.key),
                    )
                )
    outcome = DatasetOutcome(ds.key, target.name, dataset, ready_after=ctx.deps(address))
    ctx.dataset_outcomes[ds.key] = outcome
    return outcome


# --- visual schema ------------------------------------------------------------------------------


def _schema(ctx: PlanContext, ds: DesiredDataset, target: Target, address: str) -> tuple[str, bool]:
    """Plan the visual schema; returns its address and whether the plan sets a schema."""
    schema_address = addresses.dataset(ds.key, "schema")
    vs = ds.visual_schema
    if not vs.samples and vs.text is None:
        return schema_address, False
    want = desired_schema_text(ctx, ds)
    have = target.base_schema
    depends = ctx.deps(address)
    if want is None:
        if target.mode == "current" and have:
            ctx.emit(
                Action(
                    schema_address,
                    "create",
                    f"the lock file has no pin for these schema inputs: pinned from {target.name}, which was made from them",
                    changes=(Change("lock: visual_schema", None, brief(have)),),
                    depends_on=depends,
                    step=PinVisualSchema(ds.key),
                )
            )
            return schema_address, False
        steps = []
        if vs.samples:
            steps.append(f"generate a visual schema from {len(vs.samples)} sample images")
        else:
            steps.append("start from the spec's schema text")
        if vs.refine:
            steps.append(f"refine it with {len(vs.refine)} instruction{'s' if len(vs.refine) != 1 else ''} in order")
        steps.append("pin it in the lock file and set it on the dataset")
        ctx.emit(
            Action(
                schema_address,
                "create" if not have else "update",
                ", ".join(steps[:-1]) + ", then " + steps[-1],
                changes=(Change("visual_schema", brief(have), "(generated)"),),
                depends_on=depends,
                step=VisualSchema(ds.key, "generate" if vs.samples else "refine", refines=len(vs.refine)),
            )
        )
        return schema_address, True
    if have == want:
        return schema_address, False
    source: SchemaSource = "text" if (vs.text is not None and not vs.refine) else "lock"
    where = "the spec's schema text" if source == "text" else "the schema pinned in the lock file"
    if have is None:
        reason = f"set {where} on the dataset"
    elif target.mode == "clone":
        reason = f"the clone inherits the visual schema of {target.dataset.name}; the spec's differs: set {where}"  # type: ignore[union-attr]
    else:
        reason = f"the dataset's visual schema differs from {where}: set it again"
    ctx.emit(
        Action(
            schema_address,
            "create" if have is None else "update",
            reason,
            changes=(Change("visual_schema", brief(have), brief(want)),),
            depends_on=depends,
            step=VisualSchema(ds.key, source),
        )
    )
    return schema_address, True


def _exclusions(ctx: PlanContext, ds: DesiredDataset) -> str:
    """``; excluded in spec.decisions.yaml: images/pose-03.png (blurry)``: why images left the dataset."""
    if not ds.excluded:
        return ""
    listed = ", ".join(f"{image} ({reason})" if reason else image for image, reason in ds.excluded[:5])
    more = f" and {len(ds.excluded) - 5} more" if len(ds.excluded) > 5 else ""
    return f"; excluded in {ctx.desired.decisions.name}: {listed}{more}"
