"""The handlers of generation steps: image and video (request, or poll a recorded request),
structured prompt (generate, poll, pin), restore and delete a local output.

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
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bria_pipeline.api.errors import AmbiguousResult, ApiError, JobFailed, NotFound, WaitTimeout
from bria_pipeline.api.types import AsyncJob, GenerationResult
from bria_pipeline.atomic import is_partial
from bria_pipeline.generate.errors import GenerationError
from bria_pipeline.state.clock import now_iso
from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.state.manifest import MANIFEST_FILE
from bria_pipeline.state.records import StructuredPromptRecord
from bria_pipeline.generate.output_files import (
    check_download,
    inside,
    move_aside,
    place,
    remove_emptied,
)
from bria_pipeline.model import IMAGE_PARAMETERS
from bria_pipeline.output_names import replaced, retired_name
from bria_pipeline.generate.thumbnails import cached_thumbnail
from bria_pipeline.plan.steps import (
    DeleteOutput,
    GenerateImage,
    GenerateVideo,
    OutputFields,
    PinStructuredPrompt,
    PollImage,
    PollStructuredPrompt,
    PollVideo,
    RestoreOutput,
    StructuredPrompt,
    Superseded,
)

from .context import Run
from .errors import AnswerLost, StepError, StillRunning, WaitInterrupted
from .handlers import handles
from .result import Done

Job = GenerationResult | AsyncJob | str  # an answer, or a request id recorded earlier


class _Gone(Exception):
    """The accepted request can no longer give its result: a new request is the only way."""

    def __init__(self, request_id: str | None, ended: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.ended = ended  # "gone" (the status service answers 404) or "expired" (result URL dead)
        self.message = message


KEPT_HINT = "The request id is kept: the next apply polls that same request, paying nothing again."


def _model_id(run: Run, planned_model_id: str | None, model: str) -> str:
    if planned_model_id is not None:
        return str(planned_model_id)
    ref = run.generation.models.get(model)
    if ref is None or ref.remote_id is None:
        raise StepError(
            f"model {model} has no remote id: it is not trained yet",
            hint="Generation waits for the model's training; apply again once training completed.",
        )
    return str(ref.remote_id)


def _describe(exc: BaseException) -> str:
    return exc.describe() if isinstance(exc, ApiError) else str(exc)


async def _post(run: Run, call: Callable[[], Awaitable[GenerationResult | AsyncJob]], on_intent: Callable[[], object],
                on_lost: Callable[[str], object], on_error: Callable[[str], object]) -> GenerationResult | AsyncJob:
    """Steps 1-3: intent, POST, and the translation of its failures."""
    state = run.generation
    on_intent()
    state.posts += 1
    try:
        answer = await call()
    except AmbiguousResult as exc:
        on_lost(_describe(exc))
        raise AnswerLost(
            "the answer to the generation request was lost: the service may have made (and billed) it",
            hint="Nothing can read it back: the next apply generates it again and may pay once more.",
        ) from None
    except ApiError as exc:
        on_error(_describe(exc))
        raise StepError(_describe(exc)) from None
    state.accepted += 1
    return answer


def _request_id(job: Job) -> str | None:
    return job if isinstance(job, str) else job.request_id


async def _wait(run: Run, job: Job, on_error: Callable[[str], object]) -> GenerationResult:
    """Step 4: poll until the job's final status is known.

    COMPLETED returns; ERROR and its kin record the failure (on_error) and raise; 404 raises
    _Gone; a timeout or a failed poll leaves the request pending (its id recorded) and raises."""
    if isinstance(job, GenerationResult):
        return job
    request_id = _request_id(job)
    state = run.generation
    try:
        return await run.client.wait_for_job(
            job, timeout=state.wait_timeout, interval=state.poll_interval, max_interval=state.max_poll_interval
        )
    except WaitTimeout as exc:
        raise StillRunning(f"still running after {state.wait_timeout:.0f} s: {_describe(exc)}", hint=KEPT_HINT) from None
    except JobFailed as exc:
        on_error(_describe(exc))
        raise StepError(_describe(exc)) from None
    except NotFound as exc:
        raise _Gone(request_id, "gone", f"request {request_id} is unknown to the status service (gone): "
                                        f"{_describe(exc)}") from None
    except ApiError as exc:
        raise WaitInterrupted(f"the wait on request {request_id} was interrupted: {_describe(exc)}",
                              hint=KEPT_HINT) from None


async def _download(run: Run, job: Job, result: GenerationResult, kind: str) -> tuple[bytes, str]:
    """Step 5's fetch. A dead result URL (expired after 3 days, or on a host this run cannot
    reach) is not the end: the status service, asked at the configured API root, hands out a
    fresh one; a 404 there means the job is gone."""
    url = result.video_url if kind == "video" else result.image_url
    if not url:
        raise StepError(f"the completed request returned no {kind} URL")
    try:
        data = await run.client.fetch_bytes(url)
        return data, check_download(data, kind, url)
    except (ApiError, GenerationError) as exc:
        first = _describe(exc)
    request_id = _request_id(job) or result.request_id
    if not request_id:
        raise StepError(f"downloading the {kind} failed: {first}")
    try:
        fresh = await run.client.get_status(request_id)
    except NotFound:
        raise _Gone(request_id, "expired", f"the result of request {request_id} expired before it was downloaded "
                                           f"({first}) and the status service no longer has it") from None
    except ApiError as exc:
        raise WaitInterrupted(f"downloading the {kind} failed ({first}), and asking for a fresh result failed: "
                              f"{_describe(exc)}", hint=KEPT_HINT) from None
    again = fresh.result.video_url if fresh.result and kind == "video" else fresh.result.image_url if fresh.result else None
    if not again:
        raise WaitInterrupted(f"downloading the {kind} failed ({first}); request {request_id} is {fresh.status} "
                              "without a fresh result", hint=KEPT_HINT)
    try:
        data = await run.client.fetch_bytes(again)
        return data, check_download(data, kind, again)
    except (ApiError, GenerationError) as exc:
        raise WaitInterrupted(f"downloading the {kind} failed, also from a fresh result URL: {_describe(exc)}",
                              hint=KEPT_HINT) from None


@handles(GenerateImage, GenerateVideo)
async def generate_output(run: Run, step: GenerateImage | GenerateVideo) -> Done:
    """An image or video: POST (intent recorded first), record the request id, poll, download."""
    if step.output is None:
        raise StepError(f"output {step.key} has no request to make")
    job = await _submit(run, step, step.output)
    return await _collect(run, step, job, "generated")


@handles(PollImage, PollVideo)
async def poll_output(run: Run, step: PollImage) -> Done:
    """An image or video requested earlier: poll its recorded request (paying nothing again)."""
    if run.generation.manifest.get(step.key) is None and step.output is None:
        raise StepError(f"output {step.key} is not in the manifest any more")
    if not step.request_id:
        raise StepError(f"output {step.key} has no recorded request to poll")
    return await _collect(run, step, step.request_id, "resumed")


def _lost(run: Run, key: str) -> Callable[[str], object]:
    return lambda message: run.generation.manifest.record_failed(key, message, answer_lost=True)


def _failed(run: Run, key: str) -> Callable[[str], object]:
    return lambda message: run.generation.manifest.record_failed(key, message, ended="error")


async def _submit(run: Run, step: GenerateImage | GenerateVideo | PollImage, out: OutputFields) -> GenerationResult | AsyncJob:
    """Steps 1-3 for an output; a request sent again over a lost answer is counted paid again."""
    key, state = step.key, run.generation
    manifest = state.manifest
    model_id = _model_id(run, out.model_id, out.model)
    fields: dict[str, Any] = {**out.record(), "model_id": model_id}
    if step.MEDIA == "video":
        call, sent_structured = _video_call(run, model_id, out), None
    else:
        call, sent_structured = _image_call(run, model_id, out)
    if sent_structured is not None:
        fields["structured_prompt"] = sent_structured
    current = manifest.get(key)
    was_unanswered = current is not None and current.attempts > 0 and current.may_pay_again
    answer = await _post(run, call, lambda: manifest.record_pending(key, None, **fields), _lost(run, key),
                         _failed(run, key))
    if was_unanswered:
        state.paid_again.append(run.address)
    if isinstance(answer, AsyncJob):
        manifest.record_pending(key, answer.request_id)
    else:
        manifest.record_accepted(key)
    return answer


async def _collect(run: Run, step: GenerateImage | GenerateVideo | PollImage, job: Job, tally: str) -> Done:
    """Steps 4-6: poll, download, place, record done. A job found gone (404 at the status service,
    or its result expired) is requested once more in the same run, and its record says so
    (`previous`, `paid_again`)."""
    key, kind, out = step.key, step.kind, step.output
    state = run.generation
    manifest = state.manifest
    for round_ in (1, 2):
        try:
            result = await _wait(run, job, _failed(run, key))
            data, ext = await _download(run, job, result, kind)
            break
        except _Gone as gone:
            manifest.record_gone(key, gone.request_id, gone.ended, gone.message)
            if round_ == 2 or out is None:
                raise StepError(gone.message, hint="The next apply requests it again (paid once more).") from None
            job = await _submit(run, step, out)  # the result is lost for good: paid once more, and recorded
            tally = "generated"
    record = manifest.get(key)
    assert record is not None
    name = out.name if out is not None else record.name
    if step.retired:
        name = retired_name(name, key)
    for old in step.superseded:
        _supersede(run, old)
    placed = await asyncio.to_thread(place, state.output_dir, name, ext, data)
    if kind == "image":  # the gallery's thumbnail, made while other jobs wait on the network
        await asyncio.to_thread(cached_thumbnail, state.output_dir, inside(state.output_dir, placed.file), placed.sha256)
    request_id = _request_id(job) or result.request_id
    done_fields: dict[str, Any] = {"request_id": request_id or record.request_id}
    if kind == "image" and record.structured_prompt is None and result.structured_prompt:
        done_fields["structured_prompt"] = result.structured_prompt
    manifest.record_done(key, file=placed.file, sha256=placed.sha256, **done_fields)
    return Done("generated", "generated" if tally == "generated" else "resumed")


def _image_call(run: Run, model_id: str, out: OutputFields) -> tuple[Callable[[], Awaitable[GenerationResult | AsyncJob]], str | None]:
    """The generate_image call for the contract's input combinations (prompt; structured prompt
    + seed; structured prompt + prompt)."""
    params = dict(out.params or {})
    sp_hash = out.structured_prompt_hash
    unknown = sorted(set(params) - set(IMAGE_PARAMETERS))
    if unknown:
        raise StepError(f"unknown image generation parameter(s): {', '.join(unknown)}")
    structured: str | None = None
    if sp_hash:
        structured = run.generation.lock_pins.get(sp_hash)
        if structured is None:
            raise StepError("its structured prompt is not pinned (its structured_prompt action did not finish)")
    prompt = out.prompt
    if prompt is None and structured is None:
        raise StepError("neither a prompt nor a structured prompt to generate from")

    def call() -> Awaitable[GenerationResult | AsyncJob]:
        return run.client.generate_image(
            model_id, prompt=prompt, structured_prompt=structured, seed=out.seed, sync=False, **params
        )

    return call, structured


def _video_call(run: Run, model_id: str, out: OutputFields) -> Callable[[], Awaitable[GenerationResult | AsyncJob]]:
    state = run.generation
    source = state.manifest.get(out.source or "")
    if source is None or source.status != "done" or not source.file:
        raise StepError("its source image is not generated yet")
    path = inside(state.output_dir, source.file)
    if not path.is_file():
        raise StepError(f"its source image {source.file} is missing")

    def call() -> Awaitable[GenerationResult | AsyncJob]:
        return run.client.generate_video(model_id, path, seed=out.seed)

    return call


def _supersede(run: Run, old: Superseded) -> None:
    """Move (or with --prune delete) the file of an output this one replaces. A file whose content
    is not the one recorded (edited by hand) is never deleted: it is kept as `.replaced-<sha8>`."""
    key, file, target = old.key, old.file, old.move_to
    manifest, output_dir = run.generation.manifest, run.generation.output_dir
    record = manifest.get(key)
    if file and target is None:
        path = inside(output_dir, file)
        sha = sha256_file(path) if path.is_file() else None
        if sha is not None and (record is None or sha != record.sha256):
            move_aside(output_dir, file, replaced(file, sha))
            file = None
    if file:
        move_aside(output_dir, file, target)
    if key in manifest:
        if target is None:
            manifest.drop(key)
        else:
            manifest.update(key, file=target, retired=True)


@handles(RestoreOutput)
async def restore_output(run: Run, step: RestoreOutput) -> Done:
    """A reverted change: the output's kept file takes its name back (the holder goes aside)."""
    for old in step.superseded:
        _supersede(run, old)
    move_aside(run.generation.output_dir, step.file, step.to)
    run.generation.manifest.update(step.key, file=step.to, retired=False)
    return Done("its kept file took its name back (no request)", "restored")


@handles(PinStructuredPrompt)
async def pin_structured_prompt(run: Run, step: PinStructuredPrompt) -> Done:
    """Made earlier (kept in the manifest): only the pin in the lock file was missing."""
    _pin(run, step.inputs_hash, step.text)
    return Done("pinned in the lock file (no request)", "pinned")


@handles(StructuredPrompt)
async def structured_prompt(run: Run, step: StructuredPrompt) -> Done:
    """Generate a structured prompt (and refine it), then pin its text by inputs hash."""
    return await _structured_prompt(run, step, polling=False)


@handles(PollStructuredPrompt)
async def poll_structured_prompt(run: Run, step: PollStructuredPrompt) -> Done:
    """Poll the request recorded earlier (and refine, when only the first call was made), then pin."""
    return await _structured_prompt(run, step, polling=True)


async def _structured_prompt(run: Run, p: StructuredPrompt | PollStructuredPrompt, *, polling: bool) -> Done:
    h = p.inputs_hash
    state = run.generation
    manifest = state.manifest
    record = manifest.structured_prompts.get(h) or StructuredPromptRecord(
        h, p.set_name, p.prompt, p.model, refine=p.refine, seed=p.seed
    )
    model_id = _model_id(run, p.model_id, p.model)

    def lost(message: str) -> None:
        record.mark_failed(message, True)
        manifest.put_structured_prompt(record)

    def failed(message: str) -> None:
        record.mark_failed(message, False, "error")
        manifest.put_structured_prompt(record)

    def intent() -> None:
        if record.may_pay_again:
            state.paid_again.append(run.address)
        record.mark_pending(None)
        manifest.put_structured_prompt(record)

    async def waited(job: Job) -> str:
        try:
            return _text(await _wait(run, job, failed))
        except _Gone as gone:
            record.request_id = record.request_id or gone.request_id
            record.mark_failed(gone.message, False, gone.ended)
            manifest.put_structured_prompt(record)
            raise StepError(gone.message, hint="The next apply requests it again (paid once more).") from None

    async def call(stage: str, **body: Any) -> str:
        record.stage = stage  # type: ignore[assignment]
        answer = await _post(
            run,
            lambda: run.client.generate_structured_prompt(model_id, seed=p.seed, sync=False, **body),
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

    if polling and record.request_id:
        text = await waited(record.request_id)
        resumed_stage = record.stage
    elif record.stage == "refine" and record.draft:
        text, resumed_stage = record.draft, "generate"  # the first call's text is kept: refine only
    else:
        text = await call("generate", prompt=p.prompt)
        resumed_stage = "generate"
    if resumed_stage == "generate" and p.refine:
        record.draft = text
        manifest.put_structured_prompt(record)
        text = await call("refine", structured_prompt=text, prompt=p.refine)
    record.text, record.status, record.completed = text, "done", now_iso()
    record.request_id = None
    manifest.put_structured_prompt(record)
    _pin(run, h, text)
    return Done("generated", "resumed" if polling else "generated")


def _pin(run: Run, inputs_hash: str, text: str) -> None:
    """A structured prompt's text goes into the lock file the moment it is known."""
    run.generation.lock_pins[inputs_hash] = text
    if run.lock.structured_prompt_texts().get(inputs_hash) == text:
        return
    generation = run.desired.generation
    spec = next((r.structured_prompt for r in (generation.images if generation else ())
                 if r.structured_prompt and r.structured_prompt.inputs_hash == inputs_hash), None)
    if spec is not None:
        run.lock.pin_structured_prompt(spec, text)
    else:
        run.lock.structured_prompts[inputs_hash] = {"structured_prompt": text}
    run.save_lock()


def _text(result: GenerationResult) -> str:
    if not result.structured_prompt:
        raise StepError("the completed request returned no structured prompt")
    return result.structured_prompt


@handles(DeleteOutput)
async def delete_output(run: Run, step: DeleteOutput) -> Done:
    """--prune: delete an output's local file and forget it. Nothing remote exists to delete.

    Only a file this spec's manifest record wrote is deleted: a record stamped by another spec is
    refused, and a file whose content is no longer the recorded one (edited, or replaced by hand)
    is left on disk."""
    key, file, spec = step.key, step.file, step.spec
    manifest, output_dir = run.generation.manifest, run.generation.output_dir
    record = manifest.get(key)
    if record is not None and record.spec and spec is not None and record.spec != spec:
        raise StepError(f"{record.file or record.name} was made by {record.spec}, not by {spec}: not deleted")
    if file and record is not None and record.file == file:
        path = inside(output_dir, file)
        if path.is_file() and sha256_file(path) == record.sha256:
            path.unlink()
            remove_emptied(output_dir, path.parent)
    manifest.drop(key)
    return Done("deleted (a local output; nothing remote exists)", "deleted")


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
