"""The dataset review sheet: every training image with its caption and its problems, as HTML.

Written by `bria-pipeline review SPEC` before a dataset is completed (a completed dataset is
frozen). The planner fills `DatasetReview` from the spec and the observed remote state; this
module adds the problems it can see itself:

- no caption yet;
- a caption that is not valid JSON (the service stores captions as JSON text);
- a small image the service will upscale (below 1024x1024; the minimum with upscaling is 256);
- duplicate-looking captions: two images whose captions are the same once spacing, case and
  JSON key order are set aside.

Thumbnails are embedded as small data URIs (the sheet stands alone) up to `EMBED_LIMIT` images;
larger datasets link the local files by relative path instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bria_pipeline import __version__
from bria_pipeline.atomic import write_atomic
from bria_pipeline.reports.templates import href, render
from bria_pipeline.generate.thumbnails import data_uri_thumbnail
from bria_pipeline.model import canonical_json, digest
from bria_pipeline.output_names import slug
from bria_pipeline.state.clock import now_iso

MIN_SIDE = 1024  # the service's minimum; smaller images are upscaled (increase_resolution)
EMBED_LIMIT = 300

NO_CAPTION = "no caption yet"
NOT_JSON = "caption is not valid JSON"
UPSCALED = "small image, will be upscaled"
DUPLICATE = "duplicate-looking caption"
_BAD = (NOT_JSON,)


@dataclass(frozen=True)
class ReviewImage:
    """One training image as the review sheet shows it.

    remote_name     the name it has (or will have) in the dataset, ``pose-01.3fa2c1d9e0b7.png``
    path            the local file, if any (thumbnail source)
    caption         the caption text (JSON) as it is now, or None
    caption_source  "automatic", "manual", or None when there is no caption yet
    flags           problems the caller found (e.g. "upload failed"); the sheet adds its own
    key             what the spec calls it (``images/pose-01.png`` or a URL)
    """

    remote_name: str
    path: Path | None = None
    caption: str | None = None
    caption_source: str | None = None
    flags: tuple[str, ...] = ()
    key: str | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class DatasetReview:
    """One dataset's images; `status` is the remote status (draft/completed) when known."""

    name: str
    images: tuple[ReviewImage, ...]
    remote_name: str | None = None
    status: str | None = None
    visual_schema: str | None = None


@dataclass(frozen=True)
class Flag:
    text: str
    bad: bool = False


@dataclass
class _Row:
    name: str
    key: str | None
    anchor: str
    src: str | None
    caption: str | None
    caption_source: str | None
    size: str | None
    flags: list[Flag]


def _normalized(caption: str) -> str:
    try:
        return canonical_json(json.loads(caption)).lower()
    except ValueError:
        return re.sub(r"\s+", " ", caption).strip().lower()


def _pretty(caption: str) -> str:
    try:
        return json.dumps(json.loads(caption), indent=2, ensure_ascii=False)
    except ValueError:
        return caption


def problems(images: Sequence[ReviewImage]) -> list[list[str]]:
    """The problems of each image (in order): the caller's flags, then the sheet's own."""
    by_caption: dict[str, list[int]] = {}
    for i, image in enumerate(images):
        if image.caption and image.caption.strip():
            by_caption.setdefault(_normalized(image.caption), []).append(i)
    result: list[list[str]] = []
    for i, image in enumerate(images):
        found = list(image.flags)
        if image.caption is None or not image.caption.strip():
            found.append(NO_CAPTION)
        else:
            try:
                json.loads(image.caption)
            except ValueError:
                found.append(NOT_JSON)
            twins = [images[j].remote_name for j in by_caption[_normalized(image.caption)] if j != i]
            if twins:
                shown = ", ".join(twins[:3]) + (f" and {len(twins) - 3} more" if len(twins) > 3 else "")
                found.append(f"{DUPLICATE} (same as {shown})")
        if image.width and image.height and min(image.width, image.height) < MIN_SIDE:
            found.append(f"{UPSCALED} from {image.width}x{image.height}")
        result.append(found)
    return result


def _src(image: ReviewImage, sheet_dir: Path, embed: bool, prefix: str = "") -> str | None:
    if image.path is not None and image.path.is_file():
        if embed:
            uri = data_uri_thumbnail(image.path)
            if uri:
                return uri
        return prefix + href(Path(os.path.relpath(image.path.resolve(), sheet_dir.resolve())).as_posix())
    return image.url


def _dataset_context(review: DatasetReview, sheet_dir: Path, embed: bool, prefix: str = "") -> dict[str, object]:
    rows = []
    counts: dict[str, int] = {}
    for image, found in zip(review.images, problems(review.images)):
        flags = [Flag(text, bad=text.startswith(_BAD)) for text in found]
        for text in found:
            head = text.split(" (", 1)[0].split(" from ", 1)[0]
            counts[head] = counts.get(head, 0) + 1
        rows.append(
            _Row(
                name=image.remote_name,
                key=image.key,
                anchor=slug(image.remote_name) or digest(image.remote_name)[:8],
                src=_src(image, sheet_dir, embed, prefix),
                caption=_pretty(image.caption) if image.caption is not None else None,
                caption_source=image.caption_source,
                size=f"{image.width}x{image.height}" if image.width and image.height else None,
                flags=flags,
            )
        )
    return {
        "name": review.name,
        "anchor": slug(review.name) or digest(review.name)[:8],
        "remote_name": review.remote_name,
        "status": review.status,
        "visual_schema": _pretty(review.visual_schema) if review.visual_schema else None,
        "rows": rows,
        "flagged": sum(1 for r in rows if r.flags),
        "flag_counts": sorted(counts.items()),
    }


def write_review_sheet(
    path: Path,
    dataset_view: DatasetReview | Sequence[DatasetReview],
    *,
    title: str | None = None,
    embed: bool | None = None,
) -> Path:
    """Write the review sheet to `path` (HTML) for one dataset or several; returns `path`."""
    path = Path(path)
    write_atomic(path, review_sheet_html(path.parent, dataset_view, title=title, embed=embed).encode("utf-8"))
    return path


def review_sheet_html(
    sheet_dir: Path,
    dataset_view: DatasetReview | Sequence[DatasetReview],
    *,
    title: str | None = None,
    embed: bool | None = None,
    prefix: str = "",
) -> str:
    """The review sheet's HTML, its image links relative to `sheet_dir` (after `prefix`: the
    review server serves them under ``/files/``)."""
    reviews = [dataset_view] if isinstance(dataset_view, DatasetReview) else list(dataset_view)
    total = sum(len(r.images) for r in reviews)
    if embed is None:
        embed = total <= EMBED_LIMIT
    datasets = [_dataset_context(r, sheet_dir, embed, prefix) for r in reviews]
    return render(
        "review.html.j2",
        title=title or "Dataset review: " + ", ".join(r.name for r in reviews),
        version=__version__,
        written=now_iso(),
        datasets=datasets,
        total_images=total,
        total_flagged=sum(int(d["flagged"]) for d in datasets),  # type: ignore[call-overload]
    )
