"""The observed state: what exists remotely (and the output manifest), as typed data.

`state.observe` fills it with the fewest list calls; `plan.planner` compares it with a `Desired`.
Nothing here does I/O, so tests build these objects by hand.

`images` of a dataset is None when it was not listed: a completed dataset whose name carries the
fingerprint of the spec's content is frozen, so listing it again would only cost a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..model import content_tag, digest

if TYPE_CHECKING:
    from .manifest import Manifest

# Model statuses after which a training run can never produce anything more.
DEAD_TRAINING = ("Failed", "Stopped", "Stopping")
# Model statuses whose training is (or was) paid work worth keeping.
TRAINED = ("InProgress", "Completed", "Stopping", "Stopped")


@dataclass(frozen=True)
class ObservedProject:
    id: int
    name: str
    ip_type: str
    ip_medium: str
    description: str | None = None
    ip_name: str | None = None
    ip_description: str | None = None
    training_version: str | None = None  # fibo, max (legacy), light; None: not locked yet


@dataclass(frozen=True)
class ObservedImage:
    id: int
    image_name: str
    caption: str | None = None
    caption_source: str | None = None  # automatic, manual, pending or None (uploaded before a schema)
    content: str | None = None  # its content hash, when known without its name (an imported image)

    @property
    def has_caption(self) -> bool:
        return bool(self.caption) and self.caption_source in ("automatic", "manual")

    @property
    def tag(self) -> str:
        """What identifies it: the content hash its name carries, or the one `import` read (the
        whole name when neither is known)."""
        return content_tag(self.image_name) or self.content or self.image_name


@dataclass(frozen=True)
class ObservedDataset:
    id: int
    name: str
    status: str = "draft"  # draft or completed
    upload_type: str = "basic"
    captions_update_status: str | None = None  # empty, in_progress, completed
    visual_schema: str | None = None
    images_count: int | None = None
    images: tuple[ObservedImage, ...] | None = None  # None: not listed (see the module docstring)
    bulk_status: str | None = None  # advanced datasets: the bulk upload's status when it was read
    training_version: str | None = None  # fibo, max (legacy), light; None when the API does not say

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def count(self) -> int:
        if self.images is not None:
            return len(self.images)
        return self.images_count or 0

    def images_by_name(self) -> dict[str, list[ObservedImage]]:
        out: dict[str, list[ObservedImage]] = {}
        for image in self.images or ():
            out.setdefault(image.image_name, []).append(image)
        return out

    def images_by_tag(self) -> dict[str, list[ObservedImage]]:
        """Its images by the content hash their names carry: a file renamed on disk is found here."""
        out: dict[str, list[ObservedImage]] = {}
        for image in self.images or ():
            out.setdefault(image.tag, []).append(image)
        return out

    def image_names(self) -> dict[str, str]:
        """Content hash -> the image name it is held under (for `DesiredDataset.legacy_fingerprint`)."""
        return {tag: images[0].image_name for tag, images in self.images_by_tag().items()}


@dataclass(frozen=True)
class ObservedModel:
    id: int
    name: str
    status: str = "Created"  # Created, InProgress, Completed, Failed, Stopping, Stopped
    training_mode: str = "fully_automated"
    dataset_id: int | None = None
    description: str | None = None
    training_parameters: dict[str, Any] = field(default_factory=dict, hash=False)
    checkpoint_steps: tuple[int, ...] = ()
    active_model_version: str | None = None

    @property
    def dead(self) -> bool:
        return self.status in DEAD_TRAINING

    @property
    def trained(self) -> bool:
        return self.status in TRAINED


@dataclass(frozen=True)
class Recorded:
    """What .bria/state.json remembers of a remote resource this spec created or imported.

    Only a hint: it lets the plan recognise a resource renamed in the Console, and resources of
    datasets or models since removed from the spec. Existence is always decided by the listing.
    """

    kind: str  # project, dataset, model
    id: int
    name: str  # the name this runner gave it
    key: str | None = None  # the spec's key (dataset or model), None for the project
    imported: bool = False  # adopted with `import`: its differences from the spec are not drift
    contents: dict[str, str] | None = None  # an imported dataset's images: image id -> content hash

    def carried_from(self, previous: Recorded | None) -> Recorded:
        """This record, keeping what `import` learnt about the same resource."""
        if previous is None or previous.kind != self.kind or previous.id != self.id:
            return self
        return replace(self, imported=previous.imported, contents=previous.contents)


@dataclass(frozen=True)
class Observed:
    """Everything the planner may know about the world, gathered before planning."""

    project: ObservedProject | None = None
    datasets: tuple[ObservedDataset, ...] = ()
    models: tuple[ObservedModel, ...] = ()
    manifest: Manifest | None = field(default=None, compare=False)  # the output manifest, files observed
    recorded: tuple[Recorded, ...] = ()
    requests: int = 0  # how many API requests observing cost

    def recorded_by_id(self, kind: str) -> dict[int, Recorded]:
        return {r.id: r for r in self.recorded if r.kind == kind}

    def vanished(self, kind: str, key: str | None = None) -> list[Recorded]:
        """Resources .bria/ recorded as this spec's that the listing no longer shows: deleted outside
        bria-pipeline (what bria-pipeline deletes itself, it forgets)."""
        if kind == "project":
            listed = {self.project.id} if self.project is not None else set()
        elif kind == "dataset":
            listed = {d.id for d in self.datasets}
        else:
            listed = {m.id for m in self.models}
        return [r for r in self.recorded if r.kind == kind and r.id not in listed and (key is None or r.key == key)]

    def dataset_by_id(self, dataset_id: int | None) -> ObservedDataset | None:
        for ds in self.datasets:
            if ds.id == dataset_id:
                return ds
        return None

    def fingerprint(self) -> str:
        """A hash of everything a plan depends on; a saved plan is refused when it changes."""
        return digest(
            {
                "project": _project_data(self.project),
                "datasets": sorted(
                    (
                        {
                            "id": d.id,
                            "name": d.name,
                            "status": d.status,
                            "upload_type": d.upload_type,
                            "captions": d.captions_update_status,
                            "schema": d.visual_schema,
                            "count": d.images_count,
                            # a completed dataset is frozen: whether its images were listed
                            # (which depends on the spec) says nothing about the remote
                            "images": None
                            if d.images is None or d.completed
                            else sorted((i.id, i.image_name, i.caption, i.caption_source) for i in d.images),
                            "bulk": d.bulk_status,
                        }
                        for d in self.datasets
                    ),
                    key=lambda x: x["id"],
                ),
                "models": sorted(
                    (
                        {
                            "id": m.id,
                            "name": m.name,
                            "status": m.status,
                            "mode": m.training_mode,
                            "dataset": m.dataset_id,
                            "params": m.training_parameters,
                        }
                        for m in self.models
                    ),
                    key=lambda x: x["id"],
                ),
                "outputs": _manifest_data(self.manifest),
            }
        )


def _project_data(project: ObservedProject | None) -> dict[str, Any] | None:
    if project is None:
        return None
    return dict(project.__dict__)


def _manifest_data(manifest: Manifest | None) -> list[list[tuple[str | None, ...]]]:
    if manifest is None:
        return []
    outputs: list[tuple[str | None, ...]] = sorted(
        (r.key, r.status, r.file, r.request_id, r.sha256, manifest.files[r.file].sha256 if r.file in manifest.files else None)
        for r in manifest
    )
    prompts: list[tuple[str | None, ...]] = sorted((h, r.status, r.request_id) for h, r in manifest.structured_prompts.items())
    return [outputs, prompts]
