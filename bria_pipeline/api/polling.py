"""Waiting for long jobs: generations, caption regeneration, bulk uploads, trainings.

Each wait polls with a growing interval (× `backoff` per poll, up to `max_interval`), gives up with
WaitTimeout after `timeout` seconds, and reports progress through `on_progress(done, total,
message)` after every poll: `done`/`total` are counts when known (steps, images, percent), else
None; the CLI draws them as a progress bar.

A job that ends without success raises JobFailed carrying the request_id and the final status;
the status service answers 200 even then, so the body decides.

This module knows nothing of the client: each wait takes the clock and the call that reads the
job's status (AsyncBriaClient.wait_for_* hand in their own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bria_pipeline.api.clock import Clock
from bria_pipeline.api.errors import JobFailed, WaitTimeout
from bria_pipeline.api.types import (
    BULK_FINAL,
    JOB_COMPLETED,
    BulkUploadStatus,
    Dataset,
    GenerationResult,
    JobStatus,
    Model,
)

T = TypeVar("T")
Progress = Callable[[int | None, int | None, str], None]


@dataclass(frozen=True)
class Look:
    """What one poll saw: finished or not, and the progress to report."""

    final: bool
    done: int | None
    total: int | None
    message: str


async def poll(
    clock: Clock,
    what: str,
    fetch: Callable[[], Awaitable[T]],
    look: Callable[[T], Look],
    *,
    timeout: float,
    interval: float,
    max_interval: float,
    backoff: float = 1.5,
    on_progress: Progress | None = None,
    request_id: str | None = None,
) -> T:
    """Call `fetch` until `look` says final (it raises JobFailed itself); bounded by `timeout`."""
    started = clock.monotonic()
    pause = interval
    while True:
        value = await fetch()
        seen = look(value)
        if on_progress is not None:
            on_progress(seen.done, seen.total, seen.message)
        if seen.final:
            return value
        elapsed = clock.monotonic() - started
        if elapsed >= timeout:
            raise WaitTimeout(
                f"gave up waiting for {what} after {elapsed:.0f} s (last status: {seen.message})",
                request_id=request_id,
                last_status=seen.message,
            )
        await clock.sleep(min(pause, max(0.0, timeout - elapsed)))
        pause = min(max_interval, pause * backoff)


MAX_UNKNOWN = 3  # UNKNOWN answers in a row waited through (as Bria's SDK did); the next one fails the job


async def wait_for_job(
    clock: Clock,
    request_id: str,
    fetch: Callable[[], Awaitable[JobStatus]],
    *,
    timeout: float = 600.0,
    interval: float = 1.0,
    max_interval: float = 10.0,
    on_progress: Progress | None = None,
) -> GenerationResult:
    """Poll an async v2 request (`fetch` reads its status) until COMPLETED.

    IN_PROGRESS waits; UNKNOWN waits too, up to MAX_UNKNOWN answers in a row, then the job has
    failed; COMPLETED returns; ERROR, FAILED or any other status ends the wait at once (JobFailed).
    """
    unknown_in_a_row = 0

    def look(status: JobStatus) -> Look:
        nonlocal unknown_in_a_row
        unknown_in_a_row = unknown_in_a_row + 1 if status.unknown else 0
        if status.failed or unknown_in_a_row > MAX_UNKNOWN:
            error = status.error or {}
            reason = error.get("message") or error.get("details") or "no reason given"
            if status.unknown:
                reason = f"{unknown_in_a_row} UNKNOWN answers in a row ({reason})"
            raise JobFailed(
                f"request {request_id} ended with status {status.status}: {reason}",
                job_status=status.status,
                request_id=request_id,
                code=error.get("code"),
                bria_message=error.get("message"),
                details=error.get("details"),
                operation="get_status",
                hint=(
                    "UNKNOWN is an internal error on Bria's side: contact support@bria.ai with the "
                    "request_id." if status.unknown else None
                ),
            )
        final = status.status == JOB_COMPLETED
        if final and status.result is None:
            raise JobFailed(f"request {request_id} is COMPLETED but its answer has no result",
                            job_status=status.status, request_id=request_id, operation="get_status")
        return Look(final, 1 if final else 0, 1, status.status)

    status = await poll(clock, f"request {request_id}", fetch, look, timeout=timeout, interval=interval,
                        max_interval=max_interval, on_progress=on_progress, request_id=request_id)
    assert status.result is not None
    return status.result


async def wait_for_captions(
    clock: Clock,
    dataset_id: int | str,
    fetch: Callable[[], Awaitable[Dataset]],
    *,
    timeout: float = 1800.0,
    interval: float = 2.0,
    max_interval: float = 15.0,
    on_progress: Progress | None = None,
) -> Dataset:
    """Poll the dataset until its captions_update_status is no longer in_progress."""

    def look(dataset: Dataset) -> Look:
        status = dataset.captions_update_status or "unknown"
        captioned = sum(1 for image in dataset.images if image.has_caption)
        total = dataset.images_count if dataset.images_count is not None else len(dataset.images)
        return Look(status != "in_progress", captioned, total, f"captions {status}")

    return await poll(clock, f"the captions of dataset {dataset_id}", fetch, look, timeout=timeout, interval=interval, max_interval=max_interval,
                      on_progress=on_progress)


async def wait_for_bulk_upload(
    clock: Clock,
    dataset_id: int | str,
    fetch: Callable[[], Awaitable[BulkUploadStatus]],
    *,
    timeout: float = 3 * 3600.0,
    interval: float = 5.0,
    max_interval: float = 30.0,
    on_progress: Progress | None = None,
) -> BulkUploadStatus:
    """Poll the dataset's bulk upload until completed; failed raises JobFailed."""

    def look(status: BulkUploadStatus) -> Look:
        if status.status == "failed":
            raise JobFailed(
                f"the bulk upload of dataset {dataset_id} failed"
                f" ({status.failed or 0} images failed, {status.done or 0} done)",
                job_status="failed",
                operation="bulk_upload_status",
                details=list(status.failed_images),
                hint="The failed images and their errors are in the error's details.",
            )
        return Look(status.status in BULK_FINAL, status.progress_percentage, 100, f"bulk upload {status.status}")

    return await poll(clock, f"the bulk upload of dataset {dataset_id}", fetch, look, timeout=timeout,
                      interval=interval, max_interval=max_interval, on_progress=on_progress)


async def wait_for_training(
    clock: Clock,
    model_id: int | str,
    fetch: Callable[[], Awaitable[Model]],
    *,
    timeout: float = 12 * 3600.0,
    interval: float = 30.0,
    max_interval: float = 300.0,
    on_progress: Progress | None = None,
) -> Model:
    """Poll the model until training is Completed; Failed or Stopped raise JobFailed."""

    def look(model: Model) -> Look:
        if model.status in ("Failed", "Stopped", "Stopping"):
            raise JobFailed(
                f"the training of model {model_id} ended with status {model.status}",
                job_status=model.status,
                operation="get_model",
                hint="A stopped or failed training cannot be resumed: create a new model.",
            )
        total = model.training_parameters.total_training_steps
        finished = model.status == "Completed"
        done = total if finished and total else max(model.checkpoint_steps, default=0)
        return Look(finished, done, total, f"training {model.status}")

    return await poll(clock, f"the training of model {model_id}", fetch, look,
                      timeout=timeout, interval=interval, max_interval=max_interval, on_progress=on_progress)

