"""A dataset's one bulk upload: POST it at most once, follow its progress, report failed images.

The contract allows one bulk upload per dataset, ever, and Bria has no idempotency keys. So:

1. read the dataset's bulk-upload status first: a job there (from an earlier, interrupted run)
   is followed, not started again;
2. otherwise produce the zip URL (lazily: building and staging 5,000 images is skipped when a
   job is already there) and POST once. A definite 4xx is raised as the API layer typed it.
   An ambiguous failure (lost answer, 5xx, timeout) is resolved by reading the status again: a
   job there means the POST took effect. If none shows up, nothing is sent again: the error
   says the outcome is unknown, and the next run starts at step 1;
3. poll the status (backing off) and report progress to a callback: done / failed / total;
4. map each failed image's member name (which carries the content hash) back to the spec's
   file names, with the service's reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from ..api import errors as api_errors
from ..api import polling
from ..model import ImageSource
from .errors import BulkUploadError

FINAL = ("completed", "failed")
AMBIGUOUS = (api_errors.AmbiguousResult, api_errors.TransportError, api_errors.ServerError)


class BulkClient(Protocol):
    """What this module needs of the API client (bria_pipeline.api.AsyncBriaClient has it)."""

    @property
    def session(self) -> Any: ...  # its `clock` times the polls

    async def bulk_upload(self, dataset_id: int | str, zip_url: str, *, content_moderation: bool | None = None) -> Any: ...

    async def bulk_upload_status(self, dataset_id: int | str) -> Any: ...


@dataclass(frozen=True)
class BulkProgress:
    """Where a bulk upload stands. `status`: zipping, staging (local steps), then the service's
    pending, processing, completed or failed. `total` is None when nobody knows it (a ready zip_url)."""

    status: str
    done: int = 0
    failed: int = 0
    total: int | None = None
    percent: int | None = None

    @property
    def processed(self) -> int:
        return self.done + self.failed


@dataclass(frozen=True)
class FailedImage:
    """An image the service could not take: its member name, the spec's names for it, and why."""

    filename: str
    keys: tuple[str, ...]
    error_code: int | None
    error_message: str

    def describe(self) -> str:
        code = f" (code {self.error_code})" if self.error_code is not None else ""
        return f"{', '.join(self.keys)}: {self.error_message or 'rejected'}{code}"


@dataclass(frozen=True)
class BulkReport:
    """How a bulk upload ended.

    `posted` is False when this call found the job already started (by an earlier run) and only
    followed it; `adopted` is True when its own POST failed ambiguously and the job was found.
    """

    dataset_id: int | str
    zip_url: str | None
    status: str
    done: int
    failed: int
    total: int | None
    failed_images: tuple[FailedImage, ...]
    posted: bool
    adopted: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "completed" and not self.failed_images and not self.failed


class BulkUploadFailed(BulkUploadError):
    """The service ended the bulk upload as failed; `report` says what it got and what it refused."""

    def __init__(self, report: BulkReport) -> None:
        shown = "; ".join(f.describe() for f in report.failed_images[:5])
        more = f" (and {len(report.failed_images) - 5} more)" if len(report.failed_images) > 5 else ""
        super().__init__(
            f"the bulk upload failed after {report.done} images" + (f": {shown}{more}" if shown else ""),
            dataset_id=report.dataset_id,
            hint="a dataset takes one bulk upload: fix the files or the zip URL; the changed dataset becomes a new version",
        )
        self.report = report


def member_keys(images: Iterable[ImageSource]) -> dict[str, tuple[str, ...]]:
    """Zip member name -> the spec's names of the files stored under it."""
    out: dict[str, tuple[str, ...]] = {}
    for image in images:
        out[image.remote_name] = out.get(image.remote_name, ()) + (image.key,)
    return out


ZipUrl = str | Callable[[], Awaitable[str]]
ProgressCallback = Callable[[BulkProgress], None]


async def bulk_upload_dataset(
    client: BulkClient,
    dataset_id: int | str,
    zip_url: ZipUrl,
    *,
    names: Mapping[str, tuple[str, ...]] | None = None,
    total: int | None = None,
    content_moderation: bool = False,
    on_progress: ProgressCallback | None = None,
    timeout: float = 3600.0,
    interval: float = 1.0,
    max_interval: float = 10.0,
    readback_attempts: int = 3,
) -> BulkReport:
    """Run (or follow) the dataset's one bulk upload to its end.

    `zip_url` is the URL, or an async function producing it (called only when a POST is needed).
    `names` maps member names to the spec's file names (see member_keys) for failed_images.
    Raises the API's typed error for a definite refusal, BulkUploadError when the outcome of the
    POST is unknown, BulkUploadFailed when the service failed the job, and the API's WaitTimeout
    when it is still running after `timeout` seconds of waiting (the next run follows it on).
    """
    url: str | None = zip_url if isinstance(zip_url, str) else None
    posted = False
    adopted = False
    status = await _job_status(client, dataset_id)
    if status is None:
        if url is None:
            url = await zip_url()  # type: ignore[operator]
        posted = True
        try:
            answer = await client.bulk_upload(dataset_id, url, content_moderation=content_moderation)
        except AMBIGUOUS as exc:
            status = await _read_back(client, dataset_id, readback_attempts, interval)
            if status is None:
                raise BulkUploadError(
                    f"the bulk upload request's outcome is unknown ({exc.message}) and no job shows up; it was not sent again",
                    dataset_id=dataset_id,
                    hint="run apply again: it reads the dataset's bulk-upload status before sending anything",
                ) from exc
            adopted = True
        else:
            status = answer if _status_text(answer) else None
    last: BulkProgress | None = None
    first = status

    async def fetch() -> Any:
        nonlocal first
        if first is not None:
            value, first = first, None
            return value
        return await client.bulk_upload_status(dataset_id)

    def look(value: Any) -> polling.Look:
        nonlocal last
        progress = _progress(value, total)
        if on_progress is not None and progress != last:
            on_progress(progress)
        last = progress
        return polling.Look(progress.status in FINAL, progress.processed, progress.total, progress.status)

    status = await polling.poll(
        client.session.clock,
        f"the bulk upload of dataset {dataset_id}",
        fetch,
        look,
        timeout=timeout,
        interval=interval,
        max_interval=max_interval,
    )
    progress = _progress(status, total)
    report = BulkReport(
        dataset_id=dataset_id,
        zip_url=url,
        status=progress.status,
        done=progress.done,
        failed=progress.failed,
        total=progress.total,
        failed_images=tuple(_failed_image(raw, names or {}) for raw in _get(status, "failed_images") or ()),
        posted=posted,
        adopted=adopted,
    )
    if report.status == "failed":
        raise BulkUploadFailed(report)
    return report


async def _job_status(client: BulkClient, dataset_id: int | str) -> Any | None:
    """The dataset's bulk-upload status, or None when it never had one."""
    try:
        status = await client.bulk_upload_status(dataset_id)
    except api_errors.NotFound:
        return None
    return status if _status_text(status) else None


async def _read_back(client: BulkClient, dataset_id: int | str, attempts: int, delay: float) -> Any | None:
    for attempt in range(max(1, attempts)):
        if attempt:
            await client.session.clock.sleep(delay)
        status = await _job_status(client, dataset_id)
        if status is not None:
            return status
    return None


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _status_text(obj: Any) -> str | None:
    value = _get(obj, "status") if obj is not None else None
    return str(value).lower() if value else None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _progress(status: Any, total: int | None) -> BulkProgress:
    done = _int(_get(status, "done"))
    failed = _int(_get(status, "failed"))
    percent = _get(status, "progress_percentage")
    percent = int(percent) if isinstance(percent, (int, float)) else None
    if total is None and percent:
        total = round((done + failed) * 100 / percent)
    return BulkProgress(_status_text(status) or "pending", done, failed, total, percent)


def _failed_image(raw: Any, names: Mapping[str, tuple[str, ...]]) -> FailedImage:
    filename = str(_get(raw, "filename") or "")
    member = PurePosixPath(filename.replace("\\", "/")).name
    code = _get(raw, "error_code")
    return FailedImage(
        filename=filename,
        keys=names.get(member) or names.get(filename) or (filename or "(unnamed)",),
        error_code=int(code) if isinstance(code, (int, float)) or (isinstance(code, str) and code.isdigit()) else None,
        error_message=str(_get(raw, "error_message") or ""),
    )
