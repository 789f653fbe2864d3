"""`review`: the dataset review sheet: each dataset of the spec with the captions its remote dataset
has now (none before it exists), and what is still pending. Reads only: the observing list calls,
plus one image listing of a completed dataset."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from ..decisions import decisions_path_for
from ..errors import BriaPipelineError
from ..reports.gallery import gallery_html, gallery_title, output_address
from ..reports.gallery import model_parameters as gallery_model_parameters
from ..reports.review import DatasetReview, ReviewImage, review_sheet_html, write_review_sheet
from ..reports.review_server import ReviewSite
from ..reports.templates import href
from ..spec.decisions_file import DecisionsFile, load_decisions
from ..state.manifest import JOURNAL_FILE, MANIFEST_FILE, Manifest
from ..state.old_folder import load_manifest
from ..lockfile import Lock
from ..model import DesiredDataset
from ..plan.context import same_caption
from ..plan.planner import plan as make_plan
from ..state.observed import ObservedDataset, ObservedImage
from .workspace import Workspace

NOT_UPLOADED = "not uploaded yet"
NOT_IN_SPEC = "in the dataset, not in the spec"
CAPTION_PENDING = "caption being generated"
MANUAL_NOT_SENT = "manual caption from the spec, not sent yet"
REFINE_NOT_RUN = "caption refinement not run yet"
REFINED_NOT_SENT = "refined caption pinned in the lock file, not sent yet"


@dataclass(frozen=True)
class DatasetReviews(Sequence[DatasetReview]):
    """The spec's datasets as the review sheet shows them, in spec order, and the requests reading them cost."""

    reviews: tuple[DatasetReview, ...]
    requests: dict[str, Any] = field(default_factory=dict, compare=False)  # total, mutating, by operation

    @overload
    def __getitem__(self, index: int) -> DatasetReview: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[DatasetReview]: ...

    def __getitem__(self, index: int | slice) -> DatasetReview | Sequence[DatasetReview]:
        return self.reviews[index]

    def __len__(self) -> int:
        return len(self.reviews)

    def __iter__(self) -> Iterator[DatasetReview]:
        return iter(self.reviews)


async def review_datasets(ws: Workspace) -> DatasetReviews:
    async with ws.observing() as seen:
        bindings = make_plan(ws.desired, seen.observed, seen.lock).bindings
        reviews = []
        for key, dataset in ws.desired.datasets.items():
            remote = seen.observed.dataset_by_id(bindings.get(f"dataset.{key}"))
            if remote is not None and remote.images is None and remote.count:
                listed = await seen.client.list_images(remote.id)
                images = tuple(ObservedImage(i.id, i.image_name or "", i.caption, i.caption_source) for i in listed)
                remote = dataclasses.replace(remote, images=images)
            reviews.append(dataset_review(dataset, remote, seen.lock))
        return DatasetReviews(tuple(reviews), seen.requests())


def write_review(ws: Workspace, reviews: Sequence[DatasetReview], out: str | Path | None = None) -> Path:
    """Write `reviews` as the review sheet (HTML, opens from disk) to `out` or ``.bria/<spec>/review.html``."""
    title = f"Dataset review: {ws.desired.project.name}"
    return write_review_sheet(Path(out) if out is not None else ws.review_path, list(reviews), title=title)


def dataset_review(dataset: DesiredDataset, remote: ObservedDataset | None, lock: Lock) -> DatasetReview:
    """One dataset for the review sheet: the spec's images in order, each with the caption it has
    remotely (or the spec's manual one, not sent yet) and what is still pending; then images the
    remote dataset holds that the spec does not list."""
    by_name = remote.images_by_tag() if remote is not None else {}
    images: list[ReviewImage] = []
    for image in dataset.images:
        found = by_name.pop(image.content_tag, [])
        flags: list[str] = []
        caption = source = None
        if not found:
            flags.append(NOT_UPLOADED)
        else:
            if len(found) > 1:
                flags.append(f"uploaded {len(found)} times")
            if found[0].has_caption:
                caption, source = found[0].caption, found[0].caption_source
            elif found[0].caption_source == "pending":
                flags.append(CAPTION_PENDING)
        if image.caption_refine:  # refined (from the spec's caption or the automatic one): the pin is what is sent
            pinned = lock.caption(image, dataset.visual_schema)
            if pinned is None:
                flags.append(REFINE_NOT_RUN)
            elif not same_caption(caption, pinned):
                caption, source = pinned, "manual"
                flags.append(REFINED_NOT_SENT)
        elif image.caption is not None:
            if not same_caption(caption, image.caption):
                caption, source = image.caption, "manual"
                flags.append(MANUAL_NOT_SENT)
        images.append(ReviewImage(image.remote_name, image.path, caption, source, tuple(flags), image.key, image.url,
                                  image.width, image.height))
    for extra in sorted(by_name.values(), key=lambda found: found[0].image_name):
        seen = extra[0]
        images.append(ReviewImage(seen.image_name, caption=seen.caption if seen.has_caption else None,
                                  caption_source=seen.caption_source if seen.has_caption else None, flags=(NOT_IN_SPEC,)))
    schema = (remote.visual_schema if remote is not None else None) or lock.visual_schema(dataset.visual_schema) \
        or dataset.visual_schema.text
    return DatasetReview(dataset.key, tuple(images), remote_name=remote.name if remote is not None else dataset.remote_name,
                         status=remote.status if remote is not None else "not created yet", visual_schema=schema)


# -- the review server ---------------------------------------------------------------------------


async def model_parameters(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Remote model name -> training parameters, of every model the project holds (one observation,
    no image listing): the gallery labels each earlier version with the parameters that differ."""
    async with ws.observing(images=False) as seen:
        return gallery_model_parameters(ws.desired, seen.observed.models)


OFFLINE = "the service was not read (no API token): captions are the spec's"


def offline_reviews(ws: Workspace) -> list[DatasetReview]:
    """The spec's datasets as the sheet shows them without reading the service: the spec's
    images and manual captions, no claim about what is uploaded."""
    lock = ws.load_lock()
    reviews = []
    for dataset in ws.desired.datasets.values():
        review = dataset_review(dataset, None, lock)
        images = tuple(dataclasses.replace(i, flags=tuple(f for f in i.flags if f != NOT_UPLOADED)) for i in review.images)
        reviews.append(dataclasses.replace(review, images=images, status=OFFLINE, remote_name=None))
    return reviews


def review_site(ws: Workspace, token: str, model_params: dict[str, dict[str, Any]] | None = None,
                reviews: Sequence[DatasetReview] | None = None) -> ReviewSite:
    """What `review serve` serves for this spec: its gallery with buttons, its training images
    and the dataset review sheet. `model_params` (see `model_parameters`) and `reviews` (see
    `review_datasets`) come from the service when it can be read; without them, from the spec."""
    params = model_params if model_params is not None else gallery_model_parameters(ws.desired)
    sheets = list(reviews) if reviews is not None else offline_reviews(ws)
    desired = ws.desired
    spec_dir = desired.spec_dir
    generation = desired.generation
    output_dir = generation.output_dir if generation is not None else spec_dir / "outputs"
    try:
        rel = output_dir.resolve().relative_to(spec_dir.resolve()).as_posix()
    except ValueError:
        raise ReviewError(f"output_dir {output_dir} is outside the spec's folder {spec_dir}; the review server "
                          "serves only that folder", hint="set generate.output_dir to a folder beside the spec") from None
    prefix = f"/files/{href(rel)}/" if rel != "." else "/files/"
    decisions_file = DecisionsFile(decisions_path_for(desired.spec_path))
    datasets = {key: {i.key for i in d.images} | {k for k, _ in d.excluded} for key, d in desired.datasets.items()}
    cache = _ManifestCache()

    def manifest() -> Manifest:
        stamp = tuple(_stamp(output_dir / name) for name in (MANIFEST_FILE, JOURNAL_FILE))
        if cache.manifest is None or cache.stamp != stamp:
            found = load_manifest(desired) or Manifest(output_dir)
            cache.stamp, cache.manifest = stamp, found
            cache.outputs = [(r.key, output_address(r)) for r in found if r.file]
        return cache.manifest

    def outputs() -> list[tuple[str, str]]:
        manifest()
        return cache.outputs

    def panel() -> list[dict[str, Any]]:
        """Each dataset's training images, as the decisions file says now (excluded, caption fixed)."""
        decisions, _ = load_decisions(desired.spec_path, None)
        shown = []
        by_name = {r.name: r for r in sheets}
        for key, dataset in desired.datasets.items():
            sheet = by_name.get(key)
            found: list[tuple[str, str | None, str | None]] = []  # (image key, src, caption)
            for image in sheet.images if sheet is not None else ():
                if image.key is None:  # in the remote dataset only: nothing to exclude from the spec
                    continue
                src = f"/files/{href(image.path.resolve().relative_to(spec_dir.resolve()).as_posix())}" \
                    if image.path is not None and _inside(image.path, spec_dir) else image.url
                found.append((image.key, src, image.caption))
            for name, _reason in dataset.excluded:  # excluded when the server started: no sheet row
                found.append((name, f"/files/{href(name)}" if _inside(spec_dir / name, spec_dir) else None, None))
            images = []
            for name, src, caption in found:
                decision = decisions.image(key, name)
                images.append({"key": name, "src": src,
                               "caption": decision.caption if decision is not None and decision.caption else caption,
                               "excluded": bool(decision and decision.exclude),
                               "reason": decision.reason if decision is not None else None})
            shown.append({"name": key, "images": images})
        return shown

    def page() -> str:
        decisions, _ = load_decisions(desired.spec_path, None)
        return gallery_html(output_dir, manifest(), title=gallery_title(desired.project.name, desired.spec_path),
                            decisions=decisions, review={"token": token, "datasets": panel()}, prefix=prefix,
                            model_params=params)

    def sheet() -> str:
        return review_sheet_html(spec_dir, sheets, title=f"Dataset review: {desired.project.name}", embed=False,
                                 prefix="/files/")

    return ReviewSite(spec_dir=spec_dir, decisions=decisions_file, token=token, page=page, outputs=outputs,
                      datasets=datasets, sheet=sheet)


class ReviewError(BriaPipelineError):
    pass


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


@dataclass
class _ManifestCache:
    """The manifest as last read, and the stamps of its files then (read again when they change)."""

    stamp: tuple[tuple[int, int] | None, ...] = ()
    manifest: Manifest | None = None
    outputs: list[tuple[str, str]] = field(default_factory=list)
