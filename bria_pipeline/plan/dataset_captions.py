"""Planning a dataset's captions: regenerate-all or wait, manual and refined captions, drift."""

from __future__ import annotations

from .. import addresses
from ..lockfile import caption_key
from ..model import DesiredDataset, ImageSource
from ..state.observed import ObservedImage
from .actions import Action, Change
from .context import PlanContext, brief, caption_changes, same_caption
from .dataset_target import Target, desired_caption, desired_schema_text, unique_images
from .steps import Caption, PinCaption, RegenerateCaptions, WaitCaptions


def plan_captions(
    ctx: PlanContext,
    ds: DesiredDataset,
    target: Target,
    address: str,
    schema_address: str,
    schema_set: bool,
    kept: dict[str, ObservedImage],
    uploaded: set[str],
    image_addresses: list[str],
) -> list[str]:
    captions_address = addresses.dataset(ds.key, "captions")
    uncaptioned = [i for i in kept.values() if not i.has_caption]
    in_progress = target.mode in ("current", "reuse") and target.dataset is not None and (
        target.dataset.captions_update_status == "in_progress"
    )
    will_have_schema = schema_set or target.base_schema is not None or desired_schema_text(ctx, ds) is not None
    regenerate_all = bool(kept) and (schema_set or (uncaptioned and will_have_schema and not in_progress))
    # an imported dataset keeps the captions written for it (in the Console) unless the spec sets them
    imported = target.dataset is not None and ctx.imported("dataset", target.dataset.id)
    overrides: list[tuple[ImageSource, ObservedImage | None]] = []
    drifted: list[tuple[ImageSource, ObservedImage]] = []
    for image in unique_images(ds.images):
        obs = None if image.content_tag in uploaded else kept.get(image.content_tag)
        if image.caption is not None or image.caption_refine:
            overrides.append((image, obs))
        elif obs is not None and obs.caption_source == "manual" and not regenerate_all and not imported:
            drifted.append((image, obs))

    depends = ctx.deps(address, schema_address, *image_addresses)
    if regenerate_all:
        if schema_set:
            why = f"the visual schema is set by this plan and {len(kept)} images are already in the dataset"
        else:
            why = f"{len(uncaptioned)} images were uploaded before the visual schema was set"
        ctx.emit(
            Action(
                captions_address,
                "update",
                f"regenerate all captions: {why}",
                depends_on=depends,
                step=RegenerateCaptions(ds.key),
            )
        )
    elif not will_have_schema and not in_progress:
        if uploaded or kept:
            ctx.notes.append(
                f"{addresses.dataset(ds.key)}: no visual_schema in the spec, so its images stay without captions "
                "(the service captions images against a visual schema)"
            )
    elif uploaded or in_progress:
        what = f"{len(uploaded)} new image{'s' if len(uploaded) != 1 else ''}" if uploaded else "the images"
        ctx.emit(
            Action(
                captions_address,
                "wait",
                f"wait for the automatic captions of {what}",
                depends_on=depends,
                step=WaitCaptions(ds.key),
            )
        )
    made = [captions_address] if ctx.changed(captions_address) else []

    # Only the version named after the spec's own content was captioned from this very spec: a
    # difference there is drift. Any other version (cloned or reused) was made from an earlier spec.
    drift_possible = target.mode == "current" and not imported
    for image, obs in drifted:
        caption_address = addresses.dataset_caption(ds.key, image.key)
        ctx.emit(
            Action(
                caption_address,
                "update",
                "caption edited outside bria-pipeline (drift): the automatic caption is generated again"
                if drift_possible
                else "the spec no longer sets this caption: the automatic caption is generated again",
                changes=(Change("caption_source", "manual", "automatic"),),
                depends_on=ctx.deps(address, schema_address),
                step=Caption(ds.key, image.key, "regenerate"),
            )
        )
        made.append(caption_address)
    for image, obs in overrides:
        caption_address = addresses.dataset_caption(ds.key, image.key)
        want = desired_caption(ctx, ds, image)
        caption_depends = ctx.deps(address, schema_address, addresses.dataset_image(ds.key, image.key), captions_address)
        if want is None:
            if obs is not None and target.mode == "current" and obs.caption_source == "manual":
                ctx.emit(
                    Action(
                        caption_address,
                        "create",
                        f"the lock file has no pin for this refined caption: pinned from {target.name}",
                        changes=(Change("lock: caption", None, brief(obs.caption)),),
                        depends_on=caption_depends,
                        step=PinCaption(ds.key, image.key),
                    )
                )
            else:
                n = len(image.caption_refine)
                start = "the spec's caption" if image.caption is not None else "the automatic caption"
                ctx.emit(
                    Action(
                        caption_address,
                        "update",
                        f"refine {start} with {n} instruction{'s' if n != 1 else ''}, pin it in the lock file and set it",
                        changes=(Change("caption", brief(obs.caption) if obs else None, "(refined)"),),
                        depends_on=caption_depends,
                        step=Caption(ds.key, image.key, "refine", refines=n),
                    )
                )
            made.append(caption_address)
            continue
        if obs is not None and not regenerate_all and (
            (obs.caption == want and obs.caption_source == "manual")
            or (target.mode == "clone" and same_caption(obs.caption, want))
        ):
            continue  # already right (a clone copies the captions of the version it is cloned from)
        reason = "refined caption pinned in the lock file" if image.caption_refine else "manual caption from the spec"
        if drift_possible and obs is not None and obs.caption_source == "manual" and obs.caption != want and not regenerate_all:
            reason += " (the dataset's caption was edited: drift)"
        ctx.emit(
            Action(
                caption_address,
                "update",
                reason,
                changes=caption_changes(obs.caption if obs else None, want,
                                        old_source=obs.caption_source if obs else None, new_source="manual"),
                depends_on=caption_depends,
                step=Caption(ds.key, image.key, "manual",
                             pin=caption_key(image, ds.visual_schema) if image.caption_refine else None),
            )
        )
        made.append(caption_address)
    return made
