"""Carrying out one generation step: image, video, structured prompt, delete, restore.

Every billed POST follows one order, so a process killed at any instant loses nothing and pays
for nothing twice:

1. record the intent (manifest: pending, no request_id), fsynced;
2. POST with sync=false;
3. record the request_id the answer names, fsynced, before any wait;
4. poll that request until it completes;
5. download, verify, write to a temp name, rename into place;
6. record done with the file's sha256.

A re-run finding (3) resumes polling the same request. One finding (1) without (3) cannot know
whether the server acted: it POSTs again and the record says `paid_again`. A POST whose answer
is lost (AmbiguousResult) is recorded as such; nothing retries it within the run.

An accepted request id is polled until its final status is known. Only three outcomes let the
output be requested again: the job ended in ERROR (or FAILED, or UNKNOWN past the allowed
streak), the status service no longer knows it (404: gone), or its result expired before it was
downloaded (Bria keeps results 3 days) and the status service has no fresh one. Each is written
to the record's `previous` list. Anything else that stops a wait (5xx past the retries,
401/403, timeouts, a lost connection) is an interrupted wait: the output stays pending with its
request id, and the next apply polls that same request, paying nothing again.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bria_pipeline.api.errors import AmbiguousResult, ApiError, JobFailed, NotFound, WaitTimeout
from bria_pipeline.api.types import AsyncJob, GenerationResult
from bria_pipeline.atomic import is_partial
from bria_pipeline.generate.errors import GenerationError
from bria_pipeline.state.manifest import MANIFEST_FILE, Manifest, StructuredPromptRecord, now_iso
from bria_pipeline.generate.output_files import (
    check_download,
    inside,
    move_aside,
    place,
    remove_emptied,
    sha256_file,
)
from bria_pipeline.generate.outputs import ModelRef
from bria_pipeline.model import IMAGE_PARAMETERS
from bria_pipeline.output_names import replaced, retired_name
from bria_pipeline.generate.thumbnails import cached_thumbnail
from bria_pipeline.plan.actions import Action, step_of
from bria_pipeline.plan.steps import (
    DeleteOutput,
    GenerateImage,
    GenerateVideo,
    OutputFields,
    RestoreOutput,
    StructuredPrompt,
    Superseded,
)

from .client import GenerationClient
from .result import GenerationReport


class ActionFailed(GenerationError):
    """One action could not be carried out; `answer_lost` when a POST's outcome is unknown,
    `still_running` when a wait timed out, `interrupted` when polling failed: in both of these
    the request id is kept and the next apply polls it."""

    def __init__(self, message: str, *, answer_lost: bool = False, still_running: bool = False,
                 interrupted: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.answer_lost = answer_lost
        self.still_running = still_running
        self.interrupted = interrupted


class _Gone(Exception):
    """The accepted request can no longer give its result: a new request is the only way."""

    def __init__(self, request_id: str | None, ended: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.ended = ended  # "gone" (the status service answers 404) or "expired" (result URL dead)
        self.message = message


KEPT_HINT = "The request id is kept: the next apply polls that same request, paying nothing again."


@dataclass
class JobContext:
    """What every job needs; shared by the concurrent jobs of one run."""

    client: GenerationClient
    manifest: Manifest
    output_dir: Path
    lock_pins: MutableMapping[str, str]
    models: Mapping[str, ModelRef] = field(default_factory=dict)
    wait_timeout: float = 600.0
    poll_interval: float = 1.0
    max_poll_interval: float = 10.0
    posts: int = 0  # billed POSTs sent (a POST the client retried after a definite 5xx counts once)
    accepted: int = 0  # of those, answered with a request id or a result: billed
    paid_again: list[str] = field(default_factory=list)
    report: GenerationReport = field(default_factory=GenerationReport)


def _model_id(ctx: JobContext, planned_model_id: Any, model: str) -> str:
    if planned_model_id is not None:
        return str(planned_model_id)
    ref = ctx.models.get(model)
    if ref is None or ref.remote_id is None:
        raise ActionFailed(
            f"model {model} has no remote id: it is not trained yet",
            hint="Generation waits for the model's training; apply again once training completed.",
        )
    return str(ref.remote_id)


def _describe(exc: BaseException) -> str:
    return exc.describe() if isinstance(exc, ApiError) else str(exc)


async def _post(ctx: JobContext, call: Any, on_intent: Any, on_lost: Any, on_error: Any) -> GenerationResult | AsyncJob:
    """Steps 1-3: intent, POST, and the translation of its failures."""
    on_intent()
    ctx.posts += 1
    try:
        answer = await call()
    except AmbiguousResult as exc:
        on_lost(_describe(exc))
        raise ActionFailed(
            "the answer to the generation request was lost: the service may have made (and billed) it",
            answer_lost=True,
            hint="Nothing can read it back: the next apply generates it again and may pay once more.",
        ) from None
    except ApiError as exc:
        on_error(_describe(exc))
        raise ActionFailed(_describe(exc)) from None
    ctx.accepted += 1
    return answer


def _request_id(job: GenerationResult | AsyncJob | str) -> str | None:
    return job if isinstance(job, str) else job.request_id


async def _wait(ctx: JobContext, job: GenerationResult | AsyncJob | str, on_error: Any) -> GenerationResult:
    """Step 4: poll until the job's final status is known.

    COMPLETED returns; ERROR and its kin record the failure (on_error) and raise; 404 raises
    _Gone; a timeout or a failed poll leaves the request pending (its id recorded) and raises."""
    if isinstance(job, GenerationResult):
        return job
    request_id = _request_id(job)
    try:
        return await ctx.client.wait_for_job(
            job, timeout=ctx.wait_timeout, interval=ctx.poll_interval, max_interval=ctx.max_poll_interval
        )
    except WaitTimeout as exc:
        raise ActionFailed(
            f"still running after {ctx.wait_timeout:.0f} s: {_describe(exc)}",
            still_running=True,
            hint=KEPT_HINT,
        ) from None
    except JobFailed as exc:
        on_error(_describe(exc))
        raise ActionFailed(_describe(exc)) from None
    except NotFound as exc:
        raise _Gone(request_id, "gone", f"request {request_id} is unknown to the status service (gone): "
                                        f"{_describe(exc)}") from None
    except ApiError as exc:
        raise ActionFailed(
            f"the wait on request {request_id} was interrupted: {_describe(exc)}",
            interrupted=True,
            hint=KEPT_HINT,
        ) from None


async def _download(ctx: JobContext, job: GenerationResult | AsyncJob | str, result: GenerationResult,
                    kind: str) -> tuple[bytes, str]:
    """Step 5's fetch. A dead result URL (expired after 3 days, or on a host this run cannot
    reach) is not the end: the status service, asked at the configured API root, hands out a
    fresh one; a 404 there means the job is gone."""
    url = result.video_url if kind == "video" else result.image_url
    if not url:
        raise ActionFailed(f"the completed request returned no {kind} URL")
    try:
        data = await ctx.client.fetch_bytes(url)
        return data, check_download(data, kind, url)
    except (ApiError, GenerationError) as exc:
        first = _describe(exc)
    request_id = _request_id(job) or result.request_id
    if not request_id:
        raise ActionFailed(f"downloading the {kind} failed: {first}")
    try:
        fresh = await ctx.client.get_status(request_id)
    except NotFound:
        raise _Gone(request_id, "expired", f"the result of request {request_id} expired before it was downloaded "
                                           f"({first}) and the status service no longer has it") from None
    except ApiError as exc:
        raise ActionFailed(f"downloading the {kind} failed ({first}), and asking for a fresh result failed: "
                           f"{_describe(exc)}", interrupted=True, hint=KEPT_HINT) from None
    again = fresh.result.video_url if fresh.result and kind == "video" else fresh.result.image_url if fresh.result else None
    if not again:
        raise ActionFailed(f"downloading the {kind} failed ({first}); request {request_id} is {fresh.status} "
                           "without a fresh result", interrupted=True, hint=KEPT_HINT)
    try:
        data = await ctx.client.fetch_bytes(again)
        return data, check_download(data, kind, again)
    except (ApiError, GenerationError) as exc:
        raise ActionFailed(f"downloading the {kind} failed, also from a fresh result URL: {_describe(exc)}",
                           interrupted=True, hint=KEPT_HINT) from None


async def run_output(ctx: JobContext, action: Action) -> str:
    """An image or video: create (POST, record, poll, download) or wait (poll a recorded job).

    A job found gone (404 at the status service, or its result expired) is requested once more in
    the same run, and its record says so (`previous`, `paid_again`)."""
    step = step_of(action, (GenerateImage, GenerateVideo))
    key, kind, out = step.key, step.kind, step.output
    manifest = ctx.manifest
    record = manifest.get(key)
    if record is None and out is None:
        raise ActionFailed(f"output {key} is not in the manifest any more")
    model = out.model if out is not None else (record.model if record else "")

    def lost(message: str) -> None:
        manifest.record_failed(key, message, answer_lost=True)

    def failed(message: str) -> None:
        manifest.record_failed(key, message, ended="error")

    async def submit(out: OutputFields) -> GenerationResult | AsyncJob:
        model_id = _model_id(ctx, out.model_id, model)
        fields: dict[str, Any] = {**out.record(), "model_id": model_id}
        if isinstance(step, GenerateVideo):
            call, sent_structured = _video_call(ctx, model_id, out), None
        else:
            call, sent_structured = _image_call(ctx, model_id, out)
        if sent_structured is not None:
            fields["structured_prompt"] = sent_structured
        current = manifest.get(key)
        was_unanswered = current is not None and current.attempts > 0 and current.may_pay_again
        answer = await _post(ctx, call, lambda: manifest.record_pending(key, None, **fields), lost, failed)
        if was_unanswered:
            ctx.paid_again.append(action.address)
        if isinstance(answer, AsyncJob):
            manifest.record_pending(key, answer.request_id)
        else:
            manifest.record_accepted(key)
        return answer

    if action.kind == "wait" and step.request_id:
        job: GenerationResult | AsyncJob | str = step.request_id
        outcome = "resumed"
    elif out is not None:
        job = await submit(out)
        outcome = "generated"
    else:
        raise ActionFailed(f"output {key} has neither a request to poll nor one to make")

    for round_ in (1, 2):
        try:
            result = await _wait(ctx, job, failed)
            data, ext = await _download(ctx, job, result, kind)
            break
        except _Gone as gone:
            manifest.record_gone(key, gone.request_id, gone.ended, gone.message)
            if round_ == 2 or out is None:
                raise ActionFailed(gone.message, hint="The next apply requests it again (paid once more).") from None
            job = await submit(out)  # the result is lost for good: paid once more, and recorded
            outcome = "generated"
    record = manifest.get(key)
    assert record is not None
    name = out.name if out is not None else record.name
    if step.retired:
        name = retired_name(name, key)
    for old in step.superseded:
        _supersede(ctx, old)
    placed = await asyncio.to_thread(place, ctx.output_dir, name, ext, data)
    if kind == "image":  # the gallery's thumbnail, made while other jobs wait on the network
        await asyncio.to_thread(cached_thumbnail, ctx.output_dir, inside(ctx.output_dir, placed.file), placed.sha256)
    request_id = _request_id(job) or result.request_id
    done_fields: dict[str, Any] = {"request_id": request_id or record.request_id}
    if kind == "image" and record.structured_prompt is None and result.structured_prompt:
        done_fields["structured_prompt"] = result.structured_prompt
    manifest.record_done(key, file=placed.file, sha256=placed.sha256, **done_fields)
    return outcome


def _image_call(ctx: JobContext, model_id: str, out: OutputFields) -> tuple[Any, str | None]:
    """The generate_image call for the contract's input combinations (prompt; structured prompt
    + seed; structured prompt + prompt)."""
    params = dict(out.params or {})
    sp_hash = out.structured_prompt_hash
    unknown = sorted(set(params) - set(IMAGE_PARAMETERS))
    if unknown:
        raise ActionFailed(f"unknown image generation parameter(s): {', '.join(unknown)}")
    structured: str | None = None
    if sp_hash:
        structured = ctx.lock_pins.get(sp_hash)
        if structured is None:
            raise ActionFailed("its structured prompt is not pinned (its structured_prompt action did not finish)")
    prompt = out.prompt
    if prompt is None and structured is None:
        raise ActionFailed("neither a prompt nor a structured prompt to generate from")

    def call() -> Any:
        return ctx.client.generate_image(
            model_id, prompt=prompt, structured_prompt=structured, seed=out.seed, sync=False, **params
        )

    return call, structured


def _video_call(ctx: JobContext, model_id: str, out: OutputFields) -> Any:
    source = ctx.manifest.get(out.source or "")
    if source is None or source.status != "done" or not source.file:
        raise ActionFailed("its source image is not generated yet")
    path = inside(ctx.output_dir, source.file)
    if not path.is_file():
        raise ActionFailed(f"its source image {source.file} is missing")

    def call() -> Any:
        return ctx.client.generate_video(model_id, path, seed=out.seed)

    return call


def _supersede(ctx: JobContext, old: Superseded) -> None:
    """Move (or with --prune delete) the file of an output this one replaces. A file whose content
    is not the one recorded (edited by hand) is never deleted: it is kept as `.replaced-<sha8>`."""
    key, file, target = old.key, old.file, old.move_to
    record = ctx.manifest.get(key)
    if file and target is None:
        path = inside(ctx.output_dir, file)
        sha = sha256_file(path) if path.is_file() else None
        if sha is not None and (record is None or sha != record.sha256):
            move_aside(ctx.output_dir, file, replaced(file, sha))
            file = None
    if file:
        move_aside(ctx.output_dir, file, target)
    if key in ctx.manifest:
        if target is None:
            ctx.manifest.drop(key)
        else:
            ctx.manifest.update(key, file=target, retired=True)


def run_restore(ctx: JobContext, action: Action) -> str:
    """A reverted change: the output's kept file takes its name back (the holder goes aside)."""
    step = step_of(action, RestoreOutput)
    for old in step.superseded:
        _supersede(ctx, old)
    move_aside(ctx.output_dir, step.file, step.to)
    ctx.manifest.update(step.key, file=step.to, retired=False)
    return "restored"


async def run_structured_prompt(ctx: JobContext, action: Action) -> str:
    """Generate a structured prompt (and refine it), then pin its text by inputs hash."""
    p = step_of(action, StructuredPrompt)
    h = p.inputs_hash
    if action.kind == "update" and p.text is not None:  # already generated: only the pin is missing
        ctx.lock_pins[h] = p.text
        return "pinned"
    manifest = ctx.manifest
    record = manifest.structured_prompts.get(h) or StructuredPromptRecord(
        h, p.set_name, p.prompt, p.model, refine=p.refine, seed=p.seed
    )
    model_id = _model_id(ctx, p.model_id, p.model)

    def lost(message: str) -> None:
        record.mark_failed(message, True)
        manifest.put_structured_prompt(record)

    def failed(message: str) -> None:
        record.mark_failed(message, False, "error")
        manifest.put_structured_prompt(record)

    def intent() -> None:
        if record.may_pay_again:
            ctx.paid_again.append(action.address)
        record.mark_pending(None)
        manifest.put_structured_prompt(record)

    async def waited(job: GenerationResult | AsyncJob | str) -> str:
        try:
            return _text(await _wait(ctx, job, failed))
        except _Gone as gone:
            record.request_id = record.request_id or gone.request_id
            record.mark_failed(gone.message, False, gone.ended)
            manifest.put_structured_prompt(record)
            raise ActionFailed(gone.message, hint="The next apply requests it again (paid once more).") from None

    async def step(stage: str, **body: Any) -> str:
        record.stage = stage  # type: ignore[assignment]
        answer = await _post(
            ctx,
            lambda: ctx.client.generate_structured_prompt(model_id, seed=p.seed, sync=False, **body),
            intent,
            lost,
            failed,
        )
        if isinstance(answer, AsyncJob):
            record.mark_pending(answer.request_id)
            manifest.put_structured_prompt(record)
        else:
            record.billed += 1
        return await waited(answer)

    if action.kind == "wait" and record.request_id:
        text = await waited(record.request_id)
        resumed_stage = record.stage
    elif record.stage == "refine" and record.draft:
        text, resumed_stage = record.draft, "generate"  # the first call's text is kept: refine only
    else:
        text = await step("generate", prompt=p.prompt)
        resumed_stage = "generate"
    if resumed_stage == "generate" and p.refine:
        record.draft = text
        manifest.put_structured_prompt(record)
        text = await step("refine", structured_prompt=text, prompt=p.refine)
    record.text, record.status, record.completed = text, "done", now_iso()
    record.request_id = None
    manifest.put_structured_prompt(record)
    ctx.lock_pins[h] = text
    return "resumed" if action.kind == "wait" else "generated"


def _text(result: GenerationResult) -> str:
    if not result.structured_prompt:
        raise ActionFailed("the completed request returned no structured prompt")
    return result.structured_prompt


def run_delete(ctx: JobContext, action: Action) -> str:
    """--prune: delete an output's local file and forget it. Nothing remote exists to delete.

    Only a file this spec's manifest record wrote is deleted: a record stamped by another spec is
    refused, and a file whose content is no longer the recorded one (edited, or replaced by hand)
    is left on disk."""
    step = step_of(action, DeleteOutput)
    key, file, spec = step.key, step.file, step.spec
    record = ctx.manifest.get(key)
    if record is not None and record.spec and spec is not None and record.spec != spec:
        raise ActionFailed(f"{record.file or record.name} was made by {record.spec}, not by {spec}: not deleted")
    if file and record is not None and record.file == file:
        path = inside(ctx.output_dir, file)
        if path.is_file() and sha256_file(path) == record.sha256:
            path.unlink()
            remove_emptied(ctx.output_dir, path.parent)
    ctx.manifest.drop(key)
    return "deleted"




JOBS: dict[type, Callable[[JobContext, Action], Any]] = {
    GenerateImage: run_output, GenerateVideo: run_output, StructuredPrompt: run_structured_prompt,
    DeleteOutput: run_delete, RestoreOutput: run_restore,
}
MESSAGES = {"generated": "generated", "resumed": "generated", "pinned": "pinned in the lock file (no request)",
            "deleted": "deleted (a local output; nothing remote exists)",
            "restored": "its kept file took its name back (no request)"}


async def carry_out(ctx: JobContext, action: Action) -> str:
    """One generation step, recorded in `ctx.report`; a failure raises ActionFailed."""
    report = ctx.report
    try:
        outcome = JOBS[type(action.step)](ctx, action)
        if inspect.isawaitable(outcome):
            outcome = await outcome
    except ActionFailed as exc:
        for flag, items in (("answer_lost", report.answer_lost), ("still_running", report.still_running),
                            ("interrupted", report.interrupted)):
            if getattr(exc, flag):
                items.append(action.address)
        raise
    except OSError as exc:
        raise ActionFailed(str(exc)) from None
    finally:
        report.billed_requests, report.sent_requests = ctx.accepted, ctx.posts
        report.paid_again = list(ctx.paid_again)
    getattr(report, outcome).append(action.address)
    return MESSAGES[outcome]


def sweep_own_partial_files(output_dir: Path) -> int:
    """Delete the temp files a killed run left in `output_dir`, not descending into a folder that
    holds a manifest of its own (another spec's outputs, whose apply may be running)."""
    removed = 0
    if not output_dir.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(output_dir):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not (here / d / MANIFEST_FILE).exists()]
        for name in filenames:
            if is_partial(here / name):
                (here / name).unlink(missing_ok=True)
                removed += 1
    return removed
