"""Steps on datasets: create, clone, rename, visual schema, images (basic and bulk), completion, delete."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .. import addresses
from ..api import polling
from ..api.errors import Conflict, NotFound, WaitTimeout
from ..api.types import Dataset, Image
from ..bulk.advanced import upload_advanced_dataset
from ..model import ImageSource
from ..plan.dataset_target import unique_images
from ..state.hashing import sha256_bytes
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

QUIET_POLLS = 3  # polls without a change in the listing: another runner's uploads are over...
QUIET_SECONDS = 2.0  # ...and at least this long (seconds), however fast the polls


def _remote_images(images: Iterable[Image]) -> list[RemoteImage]:
    return [RemoteImage(i.id, i.image_name or "", i.caption, i.caption_source) for i in images]


async def refresh_images(run: Run, key: str, dataset_id: int) -> None:
    run.index.set_images(key, _remote_images(await run.client.list_images(dataset_id)))


async def _named_datasets(run: Run, project_id: int, name: str) -> list[Dataset]:
    return [d for d in await run.client.list_project_datasets(project_id) if d.name == name]


async def _make_dataset(run: Run, step: CreateDataset | CloneDataset, op: str,
                        create: Callable[[int, str], Awaitable[Dataset]]) -> tuple[int, Dataset | None, bool]:
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
        named=lambda: _named_datasets(run, project_id, name),
        create=lambda: create(project_id, name),
        discard=run.client.delete_dataset,
    )
    run.index.ids[addresses.dataset(key)] = dataset_id
    if created:
        run.made.add(dataset_id)
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


def _image_input(image: ImageSource) -> bytes | str:
    if image.url:
        return image.url
    assert image.path is not None  # the spec layer gives every image a path or a URL
    data = image.path.read_bytes()
    if sha256_bytes(data) != image.sha256:
        raise StepError(f"{image.key} changed on disk since the spec was read", hint="run plan (or apply) again")
    return data


@handles(UploadImage)
async def upload_image(run: Run, step: UploadImage) -> str:
    """Upload one image unless the dataset holds its content already.

    The plan's listing may be minutes old, and another runner (a second checkout, a laptop without
    the backend) may be uploading into the same dataset: the dataset is listed right before the
    upload, and once more after it. Two runners that uploaded the same content at the same moment
    both see both copies; the copy with the higher id is removed by the runner that made it, so
    exactly one copy stays and no runner removes another's.
    """
    key, image_key, name = step.dataset, step.key, step.image_name
    if run.index.image(key, name) is not None:
        return f"{name} is already there"
    ds = run.dataset(key)
    image = run.image_source(key, image_key)
    dataset_id = run.index.id(addresses.dataset(key))
    if _maybe_shared(run, dataset_id):
        if dataset_id not in run.settling:
            run.settling[dataset_id] = asyncio.ensure_future(_others_done(run, run.address, key, dataset_id))
        await asyncio.shield(run.settling[dataset_id])
    held = _copies(run, key, await _listed(run, key, dataset_id)).get(image.content_tag)
    if held:
        return f"{name} is already there (image id {held[0].id}, uploaded by another run since the plan was made)"
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
    mine = RemoteImage(made.id, made.image_name or name, made.caption, made.caption_source, image.content_tag)
    run.index.add_image(key, mine)
    copies = _copies(run, key, await _listed(run, key, dataset_id)).get(image.content_tag, [])
    first = copies[0] if copies else mine
    if first.id != mine.id:
        await _remove_copy(run, key, dataset_id, mine)
        return f"{name} was uploaded by another run at the same moment (image id {first.id}): this run's copy removed"
    return f"uploaded {image_key} as {name}"


def _maybe_shared(run: Run, dataset_id: int) -> bool:
    """Another runner may be filling this draft: this run did not create it, and it was not this
    spec's before this run (a checkout without the backend found or adopted another's)."""
    if dataset_id in run.made:
        return False
    return not any(r.kind == "dataset" and r.id == dataset_id for r in run.observed.recorded)


async def _others_done(run: Run, address: str, key: str, dataset_id: int) -> None:
    """Wait, once per dataset, until another runner's uploads into it are over: every spec image is
    there, or the listing stood still for QUIET_POLLS polls and QUIET_SECONDS (the other runner is
    done or gone).
    The uploads that follow skip what it uploaded; so two runners rarely send one image twice."""
    wanted = {i.content_tag for i in unique_images(run.dataset(key).images)}
    interval = min(run.options.poll_interval, 5.0)
    quiet = max(QUIET_POLLS * interval, QUIET_SECONDS)
    clock = run.client.session.clock
    seen: dict[str, object] = {"ids": None, "since": clock.monotonic()}

    def look(listed: list[RemoteImage]) -> polling.Look:
        ids = frozenset(i.id for i in listed)
        if ids != seen["ids"]:
            seen["ids"], seen["since"] = ids, clock.monotonic()
        have = wanted & set(_copies(run, key, listed))
        final = have == wanted or clock.monotonic() - seen["since"] >= quiet  # type: ignore[operator]
        return polling.Look(final, len(have), len(wanted), "waiting for another run's uploads into the dataset")

    wait = run.options.wait_kw(600.0, interval=interval)
    wait["max_interval"] = interval
    try:
        await polling.poll(clock, f"the uploads into dataset {dataset_id}", lambda: _listed(run, key, dataset_id), look,
                           on_progress=run.waiting(address), **wait)
    except WaitTimeout:
        pass  # still changing after the --timeout: go on; every upload checks the listing first


async def _listed(run: Run, key: str, dataset_id: int) -> list[RemoteImage]:
    """The dataset's images as the service lists them now; the ones this run did not know are learned."""
    listed = _remote_images(await run.client.list_images(dataset_id))
    known = {i.id for found in run.index.images.get(key, {}).values() for i in found}
    for image in listed:
        run.index.tag(key, image)
        if image.id not in known:
            run.index.add_image(key, image)
    return listed


def _copies(run: Run, key: str, images: list[RemoteImage]) -> dict[str, list[RemoteImage]]:
    """The listed images by content, each content's copies oldest first (the one that stays)."""
    out: dict[str, list[RemoteImage]] = {}
    for image in sorted(images, key=lambda i: i.id):
        out.setdefault(run.index.tag(key, image), []).append(image)
    return out


async def _remove_copy(run: Run, key: str, dataset_id: int, image: RemoteImage) -> None:
    try:
        await run.client.delete_image(dataset_id, image.id)
    except NotFound:
        pass
    except Conflict as exc:
        raise StepError(
            f"dataset {dataset_id} holds {image.name} twice (the second copy is image id {image.id}) and another run "
            f"completed it before that copy could be removed, so nothing is trained on it",
            hint=f"completed datasets are frozen: `bria-pipeline apply {run.desired.spec_path}` makes a new revision of "
            f"the dataset with exactly the spec's images and trains on that",
        ) from exc
    run.index.forget_image(key, image.id)


async def check_images(run: Run, key: str, *, before: str, remove_copies: bool, dataset_id: int | None = None) -> str:
    """Stop unless the dataset holds exactly the spec's images (by content), before `before` (the
    completion, a billed training). Second copies of a spec image in a draft are removed first
    (the oldest copy stays): they add nothing, and nobody else can need them."""
    ds = run.dataset(key)
    if dataset_id is None:
        dataset_id = run.index.id(addresses.dataset(key))
    if ds.zip_url:
        return "the spec's images are in a zip the service unpacked: not compared"
    wanted = {i.content_tag: i for i in unique_images(ds.images)}
    copies = _copies(run, key, await _listed(run, key, dataset_id))
    seconds = [c for tag, found in copies.items() if tag in wanted for c in found[1:]]
    removed = 0
    if seconds and remove_copies:
        for image in seconds:
            await _remove_copy(run, key, dataset_id, image)
        removed = len(seconds)
        copies = _copies(run, key, await _listed(run, key, dataset_id))
        seconds = [c for tag, found in copies.items() if tag in wanted for c in found[1:]]
    extra = sorted((c for tag, found in copies.items() if tag not in wanted for c in found), key=lambda i: i.id)
    missing = [image for tag, image in wanted.items() if tag not in copies]
    if not (extra or missing or seconds):
        note = f", {removed} second cop{'y' if removed == 1 else 'ies'} removed" if removed else ""
        return f"{len(wanted)} images, exactly the spec's{note}"
    raise StepError(_wrong_images(run, key, dataset_id, before, extra, seconds, missing),
                    hint=_wrong_images_hint(run, remove_copies, bool(missing) and not (extra or seconds)))


async def completed_elsewhere(run: Run, key: str) -> str | None:
    """When a step on a draft was refused because the dataset is completed now (another runner
    completed it meanwhile): what to report if it holds exactly the spec's images (nothing is left
    to do on it), None if it is still a draft; a StepError naming the images if it does not."""
    dataset_id = run.index.id(addresses.dataset(key))
    if (await run.client.get_dataset(dataset_id, max_images=1)).status != "completed":
        return None
    checked = await check_images(run, key, before="this step", remove_copies=False)
    return f"dataset {dataset_id} was completed by another run meanwhile ({checked})"


def _names(images: list[RemoteImage], limit: int = 10) -> str:
    shown = ", ".join(f"{i.name} (image id {i.id})" for i in images[:limit])
    return shown + (f" and {len(images) - limit} more" if len(images) > limit else "")


def _wrong_images(run: Run, key: str, dataset_id: int, before: str, extra: list[RemoteImage],
                  seconds: list[RemoteImage], missing: list[ImageSource]) -> str:
    parts = []
    if extra:
        parts.append(f"{len(extra)} not in the spec: {_names(extra)}")
    if seconds:
        parts.append(f"{len(seconds)} second cop{'y' if len(seconds) == 1 else 'ies'} of a spec image: {_names(seconds)}")
    if missing:
        shown = ", ".join(f"{i.key} (as {i.remote_name})" for i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        parts.append(f"{len(missing)} missing: {shown}{more}")
    return (f"dataset {key!r} (id {dataset_id}) does not hold exactly the spec's images, so {before} did not happen "
            f"and nothing was billed: " + "; ".join(parts) +
            " (another run, or a person in the Console, changed it since the plan was made)")


def _wrong_images_hint(run: Run, draft: bool, only_missing: bool) -> str:
    spec = run.desired.spec_path
    if draft:
        what = "uploads the missing images" if only_missing else "deletes what is not in the spec and uploads what is missing"
        return f"apply again: `bria-pipeline apply {spec}` makes a new plan that {what}, then completes the dataset"
    return (f"completed datasets are frozen: `bria-pipeline apply {spec}` makes a new revision of the dataset with exactly "
            f"the spec's images and trains on that")


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
    elsewhere = await completed_elsewhere(run, key)
    if elsewhere is not None:
        return elsewhere
    checked = await check_images(run, key, before="the completion", remove_copies=True)
    try:
        await run.client.update_dataset(dataset_id, status="completed")
    except Conflict:
        # captions may still be running: wait for them once, then try again
        await run.client.wait_for_captions(dataset_id, **run.options.wait_kw(1800.0, interval=min(run.options.poll_interval, 1.0)))
        await run.client.update_dataset(dataset_id, status="completed")
    return f"dataset completed ({checked})"


@handles(DeleteDataset)
async def delete_dataset(run: Run, step: DeleteDataset) -> str:
    dataset_id = step.dataset_id
    return await delete_once(run, "dataset", dataset_id, f"dataset {step.name}", lambda: run.client.delete_dataset(dataset_id))
