"""Steps on captions: regenerate all and wait, one image's manual or refined caption, drift repair.

Each step checks the image's current caption first and sends nothing when it is already right:
after a clone or a regeneration the plan's view of captions may be out of date.
"""

from __future__ import annotations

from .. import addresses
from ..api.errors import BadRequest, Conflict
from ..api.types import Image
from ..plan.steps import Caption, PinCaption, RegenerateCaptions, WaitCaptions
from .context import RemoteImage, Run
from .dataset_steps import _remote_images, completed_elsewhere
from .errors import StepError
from .handlers import handles


@handles(RegenerateCaptions)
async def regenerate_captions(run: Run, step: RegenerateCaptions) -> str:
    await run.client.regenerate_all_captions(run.index.id(addresses.dataset(step.dataset)))
    return await wait_captions(run, step)


@handles(WaitCaptions)
async def wait_captions(run: Run, step: WaitCaptions) -> str:
    key = step.dataset
    dataset_id = run.index.id(addresses.dataset(key))
    dataset = await run.client.wait_for_captions(
        dataset_id,
        on_progress=run.waiting(run.address),
        **run.options.wait_kw(1800.0, interval=min(run.options.poll_interval, 1.0)),
    )
    if dataset.images_count is not None and len(dataset.images) < dataset.images_count:
        images = _remote_images(await run.client.list_images(dataset_id))
    else:
        images = _remote_images(dataset.images)
    run.index.set_images(key, images)
    missing = [i.name for i in images if not i.caption or i.caption_source not in ("automatic", "manual")]
    if missing:
        raise StepError(
            f"{len(missing)} image(s) of dataset {key!r} still have no caption (e.g. {missing[0]})",
            hint="the dataset needs a visual schema before captions can be made; apply again",
        )
    return f"{len(images)} images captioned"


def _current(run: Run, key: str, name: str) -> RemoteImage:
    image = run.index.image(key, name)
    if image is None:
        raise StepError(f"image {name} is not in dataset {key!r}")
    return image


@handles(PinCaption)
async def pin_caption(run: Run, step: PinCaption) -> str:
    key, image_key = step.dataset, step.key
    source = run.image_source(key, image_key)
    current = _current(run, key, source.remote_name)
    if not current.caption:
        raise StepError(f"image {image_key} has no caption on the service to pin")
    run.lock.pin_caption(source, run.dataset(key).visual_schema, current.caption)
    run.save_lock()
    return f"pinned the caption of {image_key} in the lock file"


@handles(Caption)
async def caption(run: Run, step: Caption) -> str:
    try:
        return await _caption(run, step)
    except (BadRequest, Conflict):  # refused on a completed dataset: another runner completed it?
        done = await completed_elsewhere(run, step.dataset)
        if done is None:
            raise
        return f"{done}: its captions are frozen"


async def _caption(run: Run, step: Caption) -> str:
    key, image_key, mode = step.dataset, step.key, step.mode
    ds = run.dataset(key)
    source = run.image_source(key, image_key)
    name = source.remote_name
    current = _current(run, key, name)
    dataset_id = run.index.id(addresses.dataset(key))
    if mode == "regenerate":
        if current.caption_source != "manual":
            return f"the caption of {image_key} is automatic already"
        made = await run.client.update_image_caption(dataset_id, current.id, regenerate_caption=True)
        _learn(run, key, current, made)
        return f"regenerated the caption of {image_key}"
    want = source.caption if not source.caption_refine else run.lock.caption(source, ds.visual_schema)
    if want is None:
        start = source.caption if source.caption is not None else current.caption
        if not start:
            raise StepError(f"image {image_key} has no caption to refine yet", hint="apply again once captions are made")
        text = start
        for n, instruction in enumerate(source.caption_refine, start=1):
            run.report("advance", run.address, f"refinement {n}/{len(source.caption_refine)}", n - 1, len(source.caption_refine))
            text = await run.client.refine_structured_prompt(dataset_id, text, instruction)
        run.lock.pin_caption(source, ds.visual_schema, text)
        run.save_lock()
        want = text
    if current.caption == want and current.caption_source == "manual":
        return f"the caption of {image_key} is already set"
    made = await run.client.update_image_caption(dataset_id, current.id, caption=want)
    _learn(run, key, current, made)
    return f"set the caption of {image_key}"


def _learn(run: Run, key: str, current: RemoteImage, made: Image) -> None:
    current.caption = made.caption
    current.caption_source = made.caption_source
