"""Planning a dataset's images: uploads and deletes (basic), or its one bulk upload (advanced)."""

from __future__ import annotations

from .. import addresses
from ..model import DesiredDataset, ImageSource
from ..state.observed import ObservedImage
from .actions import Action, Change
from .context import PlanContext
from .dataset_target import Target, unique_images
from .errors import PlanError
from .steps import BulkUpload, DeleteImage, MovedImage, UploadImage, WaitBulk

BULK_RUNNING = ("pending", "processing")


def plan_images(
    ctx: PlanContext, ds: DesiredDataset, target: Target, address: str, schema_address: str
) -> tuple[list[str], dict[str, ObservedImage], set[str]]:
    """Uploads and deletes; returns their addresses, the kept images and the uploaded ones by
    content hash (a file renamed on disk is kept under the name it was uploaded with)."""
    base: dict[str, list[ObservedImage]] = {}
    for image in target.base_images:
        base.setdefault(image.tag, []).append(image)
    wanted = {i.content_tag: i for i in unique_images(ds.images)}
    cloned = target.mode == "clone"
    deletes: list[str] = plan_reupload(ctx, ds, target, address, base, wanted)
    for tag, images in sorted(base.items(), key=lambda item: item[1][0].image_name):
        extra = images if tag not in wanted else images[1:]
        for n, image in enumerate(extra):
            name = image.image_name
            delete_address = addresses.dataset_image(ds.key, name) if n == 0 and tag not in wanted else addresses.dataset_image(ds.key, f"{name}#{image.id}")
            reason = "not in the spec" if tag not in wanted else "a second copy of an image already in the dataset"
            deletes.append(delete_address)
            ctx.emit(
                Action(
                    delete_address,
                    "delete",
                    reason,
                    changes=(Change("image_name", name, None),),
                    depends_on=ctx.deps(address),
                    step=DeleteImage(ds.key, name, None if cloned else image.id, 0 if tag not in wanted else n + 1),
                )
            )
    plan_moved(ctx, ds, target, address)
    uploads: list[str] = []
    uploaded: set[str] = set()
    kept: dict[str, ObservedImage] = {}
    imported = target.dataset is not None and ctx.imported("dataset", target.dataset.id)
    if target.mode == "current" and imported:
        why = f"in the spec, not in imported dataset {target.renamed_to or target.name}"
    elif target.mode == "current":
        why = f"missing from {target.name}: deleted outside bria-pipeline (drift), or never uploaded by an interrupted apply"
    else:
        why = f"not in {target.name if target.mode != 'clone' else target.name + ' (after cloning)'} yet"
    for tag, source in wanted.items():
        if tag in base:
            kept[tag] = base[tag][0]
            continue
        upload_address = addresses.dataset_image(ds.key, source.key)
        uploads.append(upload_address)
        uploaded.add(tag)
        forced = upload_address in ctx.replace
        ctx.emit(
            Action(
                upload_address,
                "replace" if forced else "create",
                f"--replace {upload_address}: deleted from {target.name} and uploaded again" if forced else why,
                changes=(Change("image_name", None, source.remote_name),),
                depends_on=ctx.deps(address, schema_address, *deletes),
                step=UploadImage(ds.key, source.key, source.remote_name),
            )
        )
    return deletes + uploads, kept, uploaded


def plan_reupload(ctx: PlanContext, ds: DesiredDataset, target: Target, address: str,
                  base: dict[str, list[ObservedImage]], wanted: dict[str, ImageSource]) -> list[str]:
    """--replace dataset.KEY.image[PATH]: the image is deleted from the dataset (a draft: a completed
    dataset is frozen) and uploaded again, the upload planned as any missing image's. Takes the
    image out of `base`; returns the delete's address."""
    deletes = []
    for tag, image in wanted.items():
        image_address = addresses.dataset_image(ds.key, image.key)
        ctx.replaceable.add(image_address)
        if image_address not in ctx.replace or tag not in base or target.mode == "create":
            continue
        if target.mode != "current" or (target.dataset is not None and target.dataset.completed):
            refuse_frozen_reupload(ctx, ds, target)
        held = base.pop(tag)[0]
        delete_address = addresses.dataset_image(ds.key, f"{held.image_name}#{held.id}")
        deletes.append(delete_address)
        ctx.emit(Action(delete_address, "delete", f"--replace {image_address}: the copy in {target.name} is deleted "
                        "before it is uploaded again", changes=(Change("image_name", held.image_name, None),),
                        depends_on=ctx.deps(address), step=DeleteImage(ds.key, held.image_name, held.id)))
    return deletes


def refuse_frozen_reupload(ctx: PlanContext, ds: DesiredDataset, target: Target) -> None:
    """--replace of an image of a dataset whose version is completed (frozen): refused, saying why."""
    for image in ds.images:
        image_address = addresses.dataset_image(ds.key, image.key)
        if image_address in ctx.replace:
            raise PlanError(
                f"--replace {image_address}: dataset {target.name} is completed, and a completed dataset is frozen: "
                "its images cannot be uploaded again",
                hint="change the image file (a new dataset version is made with it), or --replace the model trained on it")


def plan_moved(ctx: PlanContext, ds: DesiredDataset, target: Target, address: str) -> None:
    """Files renamed on disk whose content the version already holds: shown as renames, nothing sent."""
    by_tag = {i.tag: i for i in reversed(target.base_images)}
    where = f"{target.dataset.name} (cloned)" if target.mode == "clone" and target.dataset else target.name
    for image in unique_images(ds.images):
        held = by_tag.get(image.content_tag)
        if held is None or held.image_name == image.remote_name:
            continue
        if any(i.content_tag == image.content_tag and i.remote_name == held.image_name for i in ds.images):
            continue  # the old file is still in the spec too: a copy, not a rename
        ctx.emit(
            Action(
                addresses.dataset_image(ds.key, image.key),
                "noop",
                f"renamed on disk: same content as {held.image_name}, already in {where}; nothing to upload "
                f"(the image keeps that name)",
                changes=(Change("image_name", held.image_name, image.remote_name),),
                step=MovedImage(ds.key, image.key, held.image_name),
            )
        )


def plan_bulk(
    ctx: PlanContext, ds: DesiredDataset, target: Target, address: str, schema_address: str
) -> tuple[list[str], dict[str, ObservedImage], set[str]]:
    """An advanced dataset: one bulk upload of a zip (built and staged at apply time, or the spec's)."""
    images_address = addresses.dataset(ds.key, "images")
    dataset = target.dataset if target.mode in ("current", "reuse") else None
    if dataset is not None and dataset.bulk_status in BULK_RUNNING:
        ctx.emit(
            Action(
                images_address,
                "wait",
                f"the bulk upload into {target.name} is {dataset.bulk_status}: wait for it",
                depends_on=ctx.deps(address, schema_address),
                step=WaitBulk(ds.key),
            )
        )
        return [images_address], {}, set()
    if dataset is not None and dataset.count > 0:
        return [], {i.tag: i for i in dataset.images or ()}, set()
    source = f"the zip at {ds.zip_url}" if ds.zip_url else f"a zip of {len(ds.images)} images built and staged at apply time"
    ctx.emit(
        Action(
            images_address,
            "create",
            f"bulk upload from {source}",
            changes=(Change("images", 0, len(ds.images) if not ds.zip_url else "(zip)"),),
            depends_on=ctx.deps(address, schema_address),
            step=BulkUpload(ds.key, ds.zip_url),
        )
    )
    return [images_address], {}, {i.content_tag for i in ds.images}
