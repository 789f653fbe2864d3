"""Steps on datasets: create, clone, rename, visual schema, images (basic and bulk), completion, delete."""

from __future__ import annotations

import asyncio
import hashlib

from .. import addresses
from ..api.errors import Conflict, NotFound
from ..bulk.advanced import upload_advanced_dataset
from ..plan.steps import (
    BulkUpload,
    CloneDataset,
    CompleteDataset,
    CreateDataset,
    DeleteDataset,
    DeleteImage,
    PinVisualSchema,
    RenameDataset,
    UploadImage,
    VisualSchema,
    WaitBulk,
)
from .context import RemoteImage, Run
from .handlers import handles
from .once import create_once, delete_once
from .errors import StepError


def _remote_images(images) -> list[RemoteImage]:
    return [RemoteImage(i.id, i.image_name or "", i.caption, i.caption_source) for i in images]


async def refresh_images(run: Run, key: str, dataset_id: int) -> None:
    run.index.set_images(key, _remote_images(await run.client.list_images(dataset_id)))


async def _find_dataset(run: Run, project_id: int, name: str):
    hits = [d for d in await run.client.list_project_datasets(project_id) if d.name == name]
    return hits[0] if len(hits) == 1 else None


async def _make_dataset(run: Run, step: CreateDataset | CloneDataset, op: str, create) -> tuple[int, object, bool]:
    """Create (or clone) the dataset `step` names, at most once; returns (id, answer, created)."""
    key, name = step.dataset, step.name
    project_id = run.index.id("project")
    dataset_id, made, created = await create_once(
        run,
        op=op,
        kind="dataset",
        name=name,
        address=run.address,
        key=key,
        parent_id=project_id,
        find=lambda: _find_dataset(run, project_id, name),
        create=lambda: create(project_id, name),
    )
    run.index.ids[addresses.dataset(key)] = dataset_id
    return dataset_id, made, created


@handles(CreateDataset)
async def create_dataset(run: Run, step: CreateDataset) -> str:
    key, name, upload_type = step.dataset, step.name, step.upload_type
    dataset_id, _, created = await _make_dataset(
        run, step, "create_dataset", lambda project_id, name: run.client.create_dataset(project_id, name, upload_type=upload_type)
    )
    run.index.schemas[key] = None
    if created:
        run.index.set_images(key, [])
    else:
        await refresh_images(run, key, dataset_id)
    return f"{'created' if created else 'found'} dataset {name} (id {dataset_id})"


@handles(CloneDataset)
async def clone_dataset(run: Run, step: CloneDataset) -> str:
    key, name, source_id = step.dataset, step.name, step.source_id
    dataset_id, made, _ = await _make_dataset(
        run, step, "clone_dataset", lambda project_id, name: run.client.clone_dataset(source_id, name=name)
    )
    if made is not None and made.images and (made.images_count is None or len(made.images) >= made.images_count):
        run.index.set_images(key, _remote_images(made.images))
        run.index.schemas[key] = made.visual_schema
    else:
        await refresh_images(run, key, dataset_id)
        run.index.schemas[key] = (await run.client.get_dataset(dataset_id, max_images=1)).visual_schema
    count = sum(len(v) for v in run.index.images.get(key, {}).values())
    return f"cloned {step.source_name} as {name} (id {dataset_id}, {count} images)"


@handles(RenameDataset)
async def rename_dataset(run: Run, step: RenameDataset) -> str:
    key, name = step.dataset, step.name
    dataset_id = run.index.id(addresses.dataset(key))
    await run.client.update_dataset(dataset_id, name=name)
    run.store.record("dataset", dataset_id, name, key)
    return f"renamed dataset {dataset_id} to {name}"


@handles(PinVisualSchema)
async def pin_visual_schema(run: Run, step: PinVisualSchema) -> str:
    key = step.dataset
    text = run.index.schemas.get(key)
    if not text:
        raise StepError(f"dataset {key!r} has no visual schema on the service to pin")
    run.lock.pin_visual_schema(run.dataset(key).visual_schema, text)
    run.save_lock()
    return "pinned the dataset's visual schema in the lock file"


@handles(VisualSchema)
async def visual_schema(run: Run, step: VisualSchema) -> str:
    key, source = step.dataset, step.source
    ds = run.dataset(key)
    spec = ds.visual_schema
    dataset_id = run.index.id(addresses.dataset(key))
    if source == "text":
        text = spec.text
    elif source == "lock":
        text = run.lock.visual_schema(spec)
        if text is None:
            raise StepError(f"the lock file lost the visual schema pinned for dataset {key!r}", hint="make the plan again")
    else:
        text = run.lock.visual_schema(spec)  # pinned by an earlier, interrupted run
        if text is None:
            text = await _make_schema(run, step, dataset_id)
    assert text is not None
    if step.put and run.index.schemas.get(key) != text:
        await run.client.update_dataset(dataset_id, visual_schema=text)
    run.index.schemas[key] = text
    return "visual schema set"


async def _make_schema(run: Run, step: VisualSchema, dataset_id: int) -> str:
    key = step.dataset
    spec = run.dataset(key).visual_schema
    if spec.samples:
        samples = await asyncio.gather(*(asyncio.to_thread(_image_input, s) for s in spec.samples))
        run.report("advance", run.address, f"generating from {len(samples)} samples", 0, 1 + len(spec.refine))
        text = await run.client.generate_visual_schema(samples, content_moderation=run.dataset(key).content_moderation or None)
    else:
        text = spec.text or ""
    for n, instruction in enumerate(spec.refine, start=1):
        run.report("advance", run.address, f"refinement {n}/{len(spec.refine)}", n, 1 + len(spec.refine))
        text = await run.client.refine_structured_prompt(dataset_id, text, instruction)
    run.lock.pin_visual_schema(spec, text)
    run.save_lock()
    return text


def _image_input(image) -> bytes | str:
    if image.url:
        return image.url
    data = image.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise StepError(f"{image.key} changed on disk since the spec was read", hint="run plan (or apply) again")
    return data


@handles(UploadImage)
async def upload_image(run: Run, step: UploadImage) -> str:
    key, image_key, name = step.dataset, step.key, step.image_name
    if run.index.image(key, name) is not None:
        return f"{name} is already there"
    ds = run.dataset(key)
    image = run.image_source(key, image_key)
    dataset_id = run.index.id(addresses.dataset(key))
    moderation = (image.content_moderation or ds.content_moderation) or None
    if image.url:
        made = await run.client.upload_image(
            dataset_id, image_url=image.url, image_name=name, increase_resolution=image.increase_resolution, content_moderation=moderation
        )
    else:
        data = await asyncio.to_thread(_image_input, image)
        made = await run.client.upload_image(
            dataset_id, file=data, image_name=name, increase_resolution=image.increase_resolution, content_moderation=moderation
        )
    run.index.add_image(key, RemoteImage(made.id, made.image_name or name, made.caption, made.caption_source))
    return f"uploaded {image_key} as {name}"


@handles(DeleteImage)
async def delete_image(run: Run, step: DeleteImage) -> str:
    key, name = step.dataset, step.image_name
    dataset_id = run.index.id(addresses.dataset(key))
    image_id = step.image_id
    table = run.index.images.get(key, {})
    copies = table.get(name, [])
    if image_id is None:
        position = step.copy
        if position >= len(copies):
            return f"{name} is not there"
        image_id = copies[position].id
    try:
        await run.client.delete_image(dataset_id, image_id)
    except NotFound:
        pass
    table[name] = [c for c in copies if c.id != image_id]
    return f"deleted {name}"


@handles(BulkUpload, WaitBulk)
async def bulk_upload(run: Run, step: BulkUpload | WaitBulk) -> str:
    key = step.dataset
    ds = run.dataset(key)
    dataset_id = run.index.id(addresses.dataset(key))
    target = run.options.staging(ds) if (run.options.staging and ds.staging and not ds.zip_url) else None
    work_dir = run.options.work_dir or run.desired.spec_dir
    report = await upload_advanced_dataset(
        run.client,
        dataset_id,
        ds,
        target=target,
        work_dir=work_dir,
        on_progress=lambda p: run.report("advance", run.address, p.status, p.processed, p.total),
        **run.options.wait_kw(3 * 3600.0, interval=min(run.options.poll_interval, 5.0)),
    )
    await refresh_images(run, key, dataset_id)
    if report.failed_images:
        listed = "; ".join(f.describe() for f in report.failed_images[:5])
        raise StepError(f"the bulk upload refused {len(report.failed_images)} image(s): {listed}")
    return f"bulk upload {report.status}: {report.done} images"


@handles(CompleteDataset)
async def complete_dataset(run: Run, step: CompleteDataset) -> str:
    key = step.dataset
    dataset_id = run.index.id(addresses.dataset(key))
    try:
        await run.client.update_dataset(dataset_id, status="completed")
    except Conflict:
        # captions may still be running: wait for them once, then try again
        await run.client.wait_for_captions(dataset_id, **run.options.wait_kw(1800.0, interval=min(run.options.poll_interval, 1.0)))
        await run.client.update_dataset(dataset_id, status="completed")
    return "dataset completed"


@handles(DeleteDataset)
async def delete_dataset(run: Run, step: DeleteDataset) -> str:
    dataset_id = step.dataset_id
    return await delete_once(run, "dataset", dataset_id, f"dataset {step.name}", lambda: run.client.delete_dataset(dataset_id))
