"""Typed results of API calls. Each keeps the server's JSON as `raw`, so nothing is lost.

Parsing is lenient about fields the server leaves out (they become None) and strict about nothing
else: the API's answers are data, and a missing optional field is no reason to fail a run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from bria_pipeline.training_params import TrainingParams, as_int

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

JSON = dict[str, Any]
T = TypeVar("T")
R = TypeVar("R", bound="DataclassInstance")


def _as_dict(value: Any) -> JSON:
    return dict(value) if isinstance(value, Mapping) else {}


def _read(cls: type[R], d: Mapping[str, Any], **parsed: Any) -> R:
    """A result from the server's JSON `d`: the fields given in `parsed` as given, `raw` the whole
    of `d`, every other field the value of the key of its own name (None when left out)."""
    values = {f.name: d.get(f.name) for f in fields(cls)} | parsed | {"raw": dict(d)}
    return cls(**values)


# Statuses are compared without regard to case or separators: Bria's cookbook sends a dataset
# status "Completed", uploaded models report "completed", the contract says "completed" and
# "Completed". Parsing maps every spelling onto the contract's one, so the rest of the code
# compares plain strings.
DATASET_STATUSES = ("draft", "completed")
MODEL_STATUSES = ("Created", "InProgress", "Completed", "Failed", "Stopping", "Stopped")


def _status_key(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())


_CANONICAL = {_status_key(s): s for s in DATASET_STATUSES + MODEL_STATUSES}
_CANONICAL_MODEL = {_status_key(s): s for s in MODEL_STATUSES}
_CANONICAL_DATASET = {_status_key(s): s for s in DATASET_STATUSES}


def dataset_status(value: Any) -> str | None:
    """A dataset status as the contract spells it ("draft", "completed"); others lower-cased."""
    if not isinstance(value, str):
        return None
    return _CANONICAL_DATASET.get(_status_key(value), value.lower())


def model_status(value: Any) -> str | None:
    """A model status as the contract spells it ("InProgress"...), whatever the case the server used."""
    if not isinstance(value, str):
        return None
    return _CANONICAL_MODEL.get(_status_key(value), value)


def parse_training_version(value: Any) -> str | None:
    """fibo, max, light... lower-cased; None when the server leaves it out (unlocked)."""
    return value.strip().lower() or None if isinstance(value, str) else None


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    description: str | None
    ip_name: str | None
    ip_description: str | None
    ip_medium: str | None
    ip_type: str | None
    status: str | None
    training_version: str | None
    created_at: str | None
    updated_at: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Project:
        return _read(cls, d, id=d["id"], name=d.get("project_name", ""), description=d.get("project_description"),
                     training_version=parse_training_version(d.get("training_version")))


@dataclass(frozen=True)
class Image:
    id: int
    dataset_id: int | None
    image_name: str | None
    caption: str | None = field(repr=False)
    caption_source: str | None
    image_url: str | None
    thumbnail_url: str | None
    upload_source_url: str | None
    created_at: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Image:
        return _read(cls, d, id=d["id"])

    @property
    def has_caption(self) -> bool:
        return bool(self.caption) and self.caption_source != "pending"


@dataclass(frozen=True)
class Dataset:
    id: int
    project_id: int | None
    name: str
    status: str | None  # draft | completed (any case on the wire)
    captions_update_status: str | None  # empty | in_progress | completed
    upload_type: str | None  # basic | advanced
    visual_schema: str | None = field(repr=False)
    images_count: int | None
    images: tuple[Image, ...] = field(repr=False)  # only from get_dataset / clone_dataset
    model_ids: tuple[str, ...] | None  # only when asked for (include_models_ids)
    created_at: str | None
    updated_at: str | None
    raw: JSON = field(repr=False, compare=False)
    training_version: str | None = None  # fibo | max | light; None when the API does not say

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Dataset:
        images = tuple(Image.from_json(i) for i in d.get("images") or () if isinstance(i, Mapping))
        model_ids = d.get("model_ids")
        return _read(
            cls, d,
            id=d["id"],
            name=d.get("name", ""),
            status=dataset_status(d.get("status")),
            captions_update_status=dataset_status(d.get("captions_update_status")),
            images_count=as_int(d.get("images_count")),
            images=images,
            model_ids=tuple(str(m) for m in model_ids) if isinstance(model_ids, list) else None,
            training_version=parse_training_version(d.get("training_version")),
        )

    @property
    def completed(self) -> bool:
        return self.status == "completed"


TrainingParameters = TrainingParams  # the API's name for the one training parameter type


MODEL_TRAINING_FINAL = frozenset({"Completed", "Failed", "Stopped"})


@dataclass(frozen=True)
class Model:
    id: int
    name: str
    description: str | None
    status: str | None  # Created | InProgress | Completed | Failed | Stopping | Stopped
    training_mode: str | None
    project_id: int | None
    dataset_id: int | None
    active_model_version: str | None
    training_parameters: TrainingParameters
    checkpoint_steps: tuple[int, ...]
    created_at: str | None
    updated_at: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Model:
        steps = tuple(s for s in (as_int(x) for x in d.get("checkpoint_steps") or ()) if s is not None)
        return _read(
            cls, d,
            id=d["id"],
            name=d.get("name", ""),
            status=model_status(d.get("status")),
            training_parameters=TrainingParameters.from_json(_as_dict(d.get("training_parameters"))),
            checkpoint_steps=steps,
        )

    @property
    def training_started(self) -> bool:
        return self.status is not None and self.status != "Created"


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_step: int
    training_job_id: int | None
    created_at: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Checkpoint:
        return _read(cls, d, checkpoint_step=as_int(d.get("checkpoint_step")) or 0,
                     training_job_id=as_int(d.get("training_job_id")))


@dataclass(frozen=True)
class CheckpointList:
    checkpoints: tuple[Checkpoint, ...]
    active_model_version: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckpointList:
        items = d.get("checkpoints") or ()
        return _read(cls, d, checkpoints=tuple(Checkpoint.from_json(c) for c in items if isinstance(c, Mapping)))


BULK_FINAL = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class BulkUploadStatus:
    status: str | None  # pending | processing | completed | failed
    progress_percentage: int | None
    total_processed: int | None
    done: int | None
    failed: int | None
    failed_images: tuple[JSON, ...]
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BulkUploadStatus:
        return cls(
            status=d["status"].strip().lower() if isinstance(d.get("status"), str) else None,
            progress_percentage=as_int(d.get("progress_percentage")),
            total_processed=as_int(d.get("total_processed")),
            done=as_int(d.get("done")),
            failed=as_int(d.get("failed")),
            failed_images=tuple(_as_dict(x) for x in d.get("failed_images") or ()),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Download:
    """A pre-signed download URL (model or dataset) and what comes with it."""

    download_url: str | None
    captions_url: str | None
    base_model_name: str | None
    base_model_card: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Download:
        return _read(cls, d)


@dataclass(frozen=True)
class AsyncJob:
    """A v2 request accepted for background processing: poll it with wait_for_job."""

    request_id: str
    status_url: str | None
    raw: JSON = field(repr=False, compare=False)


@dataclass(frozen=True)
class GenerationResult:
    """A finished v2 result: an image, a video or a structured prompt."""

    request_id: str | None
    image_url: str | None
    video_url: str | None
    structured_prompt: str | None
    seed: int | None
    prompt: str | None
    refined_prompt: str | None
    raw: JSON = field(repr=False, compare=False)

    @property
    def url(self) -> str | None:
        return self.image_url or self.video_url


JOB_RUNNING = "IN_PROGRESS"
JOB_COMPLETED = "COMPLETED"
JOB_UNKNOWN = "UNKNOWN"  # transient: Bria's SDK polled through a few in a row (polling.MAX_UNKNOWN)
JOB_FAILED_STATUSES = frozenset({"ERROR", "FAILED", "UNKNOWN"})  # the ones known; any other is a failure too


@dataclass(frozen=True)
class JobStatus:
    """One answer of the status service."""

    request_id: str | None
    status: str  # IN_PROGRESS | COMPLETED | ERROR | UNKNOWN, upper-cased; FAILED or anything new
    result: GenerationResult | None
    error: JSON | None
    raw: JSON = field(repr=False, compare=False)

    @property
    def final(self) -> bool:
        return self.status not in (JOB_RUNNING, JOB_UNKNOWN)

    @property
    def unknown(self) -> bool:
        """UNKNOWN: transient for a few answers in a row, then a failure (the waiter decides)."""
        return self.status == JOB_UNKNOWN

    @property
    def failed(self) -> bool:
        """ERROR, FAILED, or any status the contract does not name: the job did not succeed."""
        return self.status not in (JOB_RUNNING, JOB_COMPLETED, JOB_UNKNOWN)


def _result_part(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The result fields of a v2 answer, whether wrapped in `result` or flat at the top."""
    wrapped = body.get("result")
    if isinstance(wrapped, Mapping):
        return wrapped
    return body


def _structured(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def parse_result(body: Mapping[str, Any]) -> GenerationResult:
    """One parser for both shapes of a finished v2 result:

    wrapped   {"result": {"image_url": ..., "seed": ...}, "request_id": ...}  (status service, SDK)
    flat      {"image_url": ..., "structured_prompt": ...}                     (the contract's 200)
    """
    part = _result_part(body)
    request_id = body.get("request_id") if body.get("request_id") is not None else part.get("request_id")
    return GenerationResult(
        request_id=str(request_id) if request_id is not None else None,
        image_url=part.get("image_url"),
        video_url=part.get("video_url"),
        structured_prompt=_structured(part.get("structured_prompt")),
        seed=as_int(part.get("seed")),
        prompt=part.get("prompt"),
        refined_prompt=part.get("refined_prompt"),
        raw=dict(body),
    )


def _has_result(body: Mapping[str, Any]) -> bool:
    part = _result_part(body)
    return any(part.get(k) is not None for k in ("image_url", "video_url", "structured_prompt"))


def parse_generation(body: Mapping[str, Any]) -> GenerationResult | AsyncJob:
    """The answer of a generation POST: a finished result (sync) or an accepted job (async)."""
    if _has_result(body):
        return parse_result(body)
    request_id = body.get("request_id")
    if request_id is None:
        raise ValueError("the answer has neither a result nor a request_id")
    return AsyncJob(request_id=str(request_id), status_url=body.get("status_url"), raw=dict(body))


def parse_status(body: Mapping[str, Any]) -> JobStatus:
    """A status-service answer. A body without `status` but with a result counts as COMPLETED."""
    status = body.get("status")
    if not isinstance(status, str):
        status = JOB_COMPLETED if _has_result(body) else ("ERROR" if body.get("error") else JOB_RUNNING)
    status = status.strip().upper().replace(" ", "_").replace("-", "_")
    error = body.get("error")
    request_id = body.get("request_id")
    return JobStatus(
        request_id=str(request_id) if request_id is not None else None,
        status=status,
        result=parse_result(body) if status == JOB_COMPLETED else None,
        error=_as_dict(error) if error is not None else None,
        raw=dict(body),
    )


def parse_list(cls: type[T], body: Any) -> list[T]:
    """A list answer of `cls`; tolerates a list wrapped in an object's single list field."""
    if isinstance(body, Mapping):
        lists = [v for v in body.values() if isinstance(v, list)]
        body = lists[0] if len(lists) == 1 else []
    return [cls.from_json(item) for item in body or () if isinstance(item, Mapping)]  # type: ignore[attr-defined]
