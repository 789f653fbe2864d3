"""What a dataset plan carries on with: the target version, and the content the spec asks for.

Shared by the dataset rules (datasets.py), images (dataset_images.py) and captions
(dataset_captions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import DesiredDataset, ImageSource
from ..state.observed import ObservedDataset, ObservedImage
from .context import PlanContext


@dataclass
class Target:
    mode: str  # current, reuse, clone, create
    name: str  # the remote name the dataset will carry
    dataset: ObservedDataset | None  # current/reuse: the dataset itself; clone: the source
    renamed_to: str | None = None
    mismatch: str | None = None  # why a completed current version could not be kept

    @property
    def base_images(self) -> tuple[ObservedImage, ...]:
        if self.mode == "create" or self.dataset is None:
            return ()
        return self.dataset.images or ()

    @property
    def base_schema(self) -> str | None:
        return None if self.mode == "create" or self.dataset is None else self.dataset.visual_schema


def desired_schema_text(ctx: PlanContext, ds: DesiredDataset) -> str | None:
    """The schema text the dataset should carry, when it is known without asking the service."""
    vs = ds.visual_schema
    if vs.text is not None and not vs.refine:
        return vs.text
    return ctx.lock.visual_schema(vs)


def desired_caption(ctx: PlanContext, ds: DesiredDataset, image: ImageSource) -> str | None:
    if image.caption_refine:
        return ctx.lock.caption(image, ds.visual_schema)
    return image.caption


def unique_images(images: tuple[ImageSource, ...]) -> list[ImageSource]:
    """One image per content: two files with the same bytes are one image of the dataset."""
    seen: set[str] = set()
    out = []
    for image in images:
        if image.content_tag not in seen:
            seen.add(image.content_tag)
            out.append(image)
    return out
