"""The one context of an apply: the client, local state, the ids learned so far, options, and the
generation state (output manifest, structured prompt pins, paid-request counts).

Every handler gets `Run` bound to its own step (`run.at(action)`: the same shared parts, plus the
step's `address` for progress and intents).

`RemoteIndex` starts from the plan's bindings and the observed image listings, and learns the ids
of what the steps create, so a later step (an upload into a dataset cloned a moment ago) finds
them without asking the service again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from .. import addresses
from ..api.client import AsyncBriaClient
from ..bulk.staging import StagingTarget
from ..generate.outputs import ModelRef
from ..lockfile import Lock, save_lock
from ..model import Desired, DesiredDataset, ImageSource, content_tag
from ..plan.actions import Action
from ..state.manifest import Manifest
from ..state.observed import Observed
from ..state.store import StateStore
from .errors import StepError
from .progress import ProgressCallback, ProgressEvent
from .result import GenerationReport


@dataclass
class RemoteImage:
    id: int
    name: str
    caption: str | None = None
    caption_source: str | None = None
    content: str | None = None  # its content hash when its name carries none (an imported image)


class WaitArgs(TypedDict):
    """How long a wait may take and how often it polls (the client's wait_for_* arguments)."""

    timeout: float
    interval: float
    max_interval: float


@dataclass
class ApplyOptions:
    """How to carry a plan out.

    wait            wait for trainings to finish (False: start them and report "training in progress")
    timeout         seconds any one long wait may take (training, captions, bulk upload, generation)
    concurrency     independent requests in flight at once (uploads, captions, generations)
    poll_interval   first pause between status polls; grows to max_poll_interval
    """

    wait: bool = True
    timeout: float | None = None
    concurrency: int = 4
    poll_interval: float = 30.0
    max_poll_interval: float = 300.0
    staging: Callable[[DesiredDataset], StagingTarget] | None = None  # a dataset's bulk staging target, or None
    work_dir: Path | None = None  # where bulk zips are built (.bria/<spec>/zips)

    def wait_kw(self, default_timeout: float, interval: float | None = None) -> WaitArgs:
        first = interval if interval is not None else self.poll_interval
        return {
            "timeout": self.timeout if self.timeout is not None else default_timeout,
            "interval": min(first, self.max_poll_interval),
            "max_interval": self.max_poll_interval,
        }


class RemoteIndex:
    """Remote ids by plan address, and each dataset's images by name."""

    def __init__(self, bindings: dict[str, int], observed: Observed, desired: Desired) -> None:
        self.ids: dict[str, int] = dict(bindings)
        self.images: dict[str, dict[str, list[RemoteImage]]] = {}
        self.schemas: dict[str, str | None] = {}
        by_id = {d.id: d for d in observed.datasets}
        for key in desired.datasets:
            dataset = by_id.get(self.ids.get(addresses.dataset(key), -1))
            if dataset is None:
                continue
            self.schemas[key] = dataset.visual_schema
            if dataset.images is not None:
                self.set_images(key, [RemoteImage(i.id, i.image_name, i.caption, i.caption_source, i.content)
                                      for i in dataset.images])

    def id(self, address: str) -> int:
        try:
            return self.ids[address]
        except KeyError:
            raise StepError(f"{address} has no remote id yet (the step that makes it did not run)") from None

    def set_images(self, dataset_key: str, images: list[RemoteImage]) -> None:
        known = {i.id: i.content for found in self.images.get(dataset_key, {}).values() for i in found if i.content}
        table: dict[str, list[RemoteImage]] = {}
        for image in images:
            image.content = image.content or known.get(image.id)
            table.setdefault(image.name, []).append(image)
        self.images[dataset_key] = table

    def add_image(self, dataset_key: str, image: RemoteImage) -> None:
        self.images.setdefault(dataset_key, {}).setdefault(image.name, []).append(image)

    def tag(self, dataset_key: str, image: RemoteImage) -> str:
        """What identifies an image: the content hash its name carries, or the one known for its id
        (an imported image), else its whole name (as `ObservedImage.tag`)."""
        if image.content is None:
            image.content = next((i.content for found in self.images.get(dataset_key, {}).values()
                                  for i in found if i.id == image.id and i.content), None)
        return content_tag(image.name) or image.content or image.name

    def forget_image(self, dataset_key: str, image_id: int) -> None:
        table = self.images.get(dataset_key, {})
        for name in list(table):
            table[name] = [i for i in table[name] if i.id != image_id]

    def image(self, dataset_key: str, name: str) -> RemoteImage | None:
        """The image by name, or by the content hash the name carries (a file renamed on disk)."""
        table = self.images.get(dataset_key, {})
        found = table.get(name)
        tag = content_tag(name)
        if not found and tag is not None:
            found = next((images for other, images in table.items()
                          if images and tag in (content_tag(other), images[0].content)), None)
        return found[0] if found else None


@dataclass
class GenerationState:
    """The generation part of an apply, shared by its generation steps: the output manifest, the
    structured prompt texts to pin, each model's remote id once trained, and what was paid."""

    manifest: Manifest
    output_dir: Path
    lock_pins: MutableMapping[str, str]
    models: dict[str, ModelRef] = field(default_factory=dict)
    wait_timeout: float = 600.0
    poll_interval: float = 1.0
    max_poll_interval: float = 10.0
    posts: int = 0  # billed POSTs sent (a POST the client retried after a definite 5xx counts once)
    accepted: int = 0  # of those, answered with a request id or a result: billed
    paid_again: list[str] = field(default_factory=list)
    report: GenerationReport = field(default_factory=GenerationReport)


@dataclass
class Run:
    """One apply in progress; `action` is the step a handler carries out (see `at`)."""

    client: AsyncBriaClient
    desired: Desired
    store: StateStore
    lock: Lock
    lock_path: Path
    index: RemoteIndex
    options: ApplyOptions = field(default_factory=ApplyOptions)
    on_progress: ProgressCallback | None = None
    observed: Observed = field(default_factory=Observed)
    outputs: GenerationState | None = None  # the executor opens it when the plan has generation steps
    made: set[int] = field(default_factory=set)  # ids of the datasets this run created
    settling: dict[int, Any] = field(default_factory=dict)  # dataset id -> the wait for another runner's uploads
    action: Action | None = None  # the step a handler carries out (see `at`)

    def at(self, action: Action) -> Run:
        """This run, bound to one step: the same client, state, index and sets (shared, not copied)."""
        return dataclasses.replace(self, action=action)

    @property
    def address(self) -> str:
        return self.action.address if self.action is not None else ""

    @property
    def generation(self) -> GenerationState:
        if self.outputs is None:
            raise StepError("the spec has no generation section to carry this step out in")
        return self.outputs

    def report(self, kind: str, address: str = "", message: str = "", done: int | None = None, total: int | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(kind, address, message, done, total))  # type: ignore[arg-type]

    def waiting(self, address: str) -> Callable[[int | None, int | None, str], None]:
        """A polling callback that reports progress under `address`."""
        return lambda done, total, message: self.report("advance", address, message, done, total)

    def save_lock(self) -> None:
        save_lock(self.lock, self.lock_path)

    def dataset(self, key: str) -> DesiredDataset:
        return self.desired.datasets[key]

    def image_source(self, dataset_key: str, image_key: str) -> ImageSource:
        for image in self.dataset(dataset_key).images:
            if image.key == image_key:
                return image
        raise StepError(f"dataset {dataset_key!r} has no image {image_key!r} in the spec")
