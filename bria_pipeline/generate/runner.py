"""Run the generation actions of a plan: concurrently, in dependency order, resumably.

    report = await run_generation(actions, client, manifest, output_dir,
                                  concurrency=8, on_progress=bar.update, lock_pins=pins)

`actions` come from `plan_generation` (actions of other kinds and addresses are ignored, and a
dependency outside this list, such as ``model.lucy-lora.training``, is taken as done by the
caller). Each action starts once the actions it depends on in this list succeeded; at most
`concurrency` run at once (the client paces requests to the rate limit on top of that). One
failure does not stop the others; the actions that depend on it are skipped and say why.

`lock_pins` (inputs_hash -> structured prompt text) is read for images made from structured
prompts and filled by the structured prompts generated here: the caller writes it into
spec.lock.yaml afterwards. `models` gives remote ids of models trained since the plan was made.

The manifest is saved (compacted) at the end, also when the run is cancelled: every step was
already in its journal.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bria_pipeline.atomic import is_partial
from bria_pipeline.generate.errors import GenerationError
from bria_pipeline.generate.jobs import ActionFailed, JobContext, run_delete, run_output, run_restore, run_structured_prompt
from bria_pipeline.generate.manifest import MANIFEST_FILE, Manifest
from bria_pipeline.generate.outputs import ModelRef
from bria_pipeline.generate.planning import SUMMARY_ADDRESS
from bria_pipeline.generate.relocate import move_outputs
from bria_pipeline.plan.actions import Action

ProgressCallback = Callable[[int, int], None]
JOBS = ("image", "video", "structured_prompt", "delete", "restore")
ADDRESS_PREFIXES = ("generation.", "video.", "structured_prompt.")


@dataclass
class RunReport:
    """What a generation run did. `ok` when nothing failed or was skipped."""

    generated: list[str] = field(default_factory=list)  # new outputs, paid for in this run
    resumed: list[str] = field(default_factory=list)  # recorded requests polled to completion
    pinned: list[str] = field(default_factory=list)  # structured prompts pinned without a request
    deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # kept files that took their names back
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, what went wrong)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (address, the failed dependency)
    answer_lost: list[str] = field(default_factory=list)  # POSTs whose outcome is unknown
    still_running: list[str] = field(default_factory=list)  # waits that timed out; resumable
    interrupted: list[str] = field(default_factory=list)  # waits stopped by a failed poll; resumable
    paid_again: list[str] = field(default_factory=list)  # POSTed again over a lost answer or lost paid work
    billed_requests: int = 0  # paid requests the service accepted (a request id or a result came back)
    sent_requests: int = 0  # paid requests sent; those neither billed nor unknown were refused
    elapsed: float = 0.0

    @property
    def unknown_effect(self) -> int:
        """Paid requests whose answer was lost after they left: made and billed, or not."""
        return len(self.answer_lost)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped

    @property
    def notes(self) -> list[str]:
        notes = []
        if self.answer_lost:
            notes.append(
                f"{len(self.answer_lost)} generation request(s) lost their answer: the service may have "
                "made and billed them, and nothing can read that back. A re-run generates them again "
                "and may pay once more (the manifest flags them paid_again)."
            )
        if self.still_running:
            notes.append(
                f"{len(self.still_running)} request(s) still running: their request ids are recorded, "
                "a re-run resumes waiting on them without paying again."
            )
        if self.interrupted:
            notes.append(
                f"{len(self.interrupted)} wait(s) interrupted by failed status polls: the request ids are kept, "
                "a re-run polls the same requests and pays nothing again."
            )
        if self.paid_again:
            notes.append(f"{len(self.paid_again)} output(s) were requested again after a lost answer or a "
                         "result that was gone: they may have been paid twice (paid_again in the manifest).")
        return notes

    def summary(self) -> str:
        parts = [f"{len(self.generated)} generated"]
        for label, items in (("resumed", self.resumed), ("pinned", self.pinned), ("deleted", self.deleted),
                             ("restored", self.restored),
                             ("failed", self.failed), ("skipped", self.skipped)):
            if items:
                parts.append(f"{len(items)} {label}")
        money = f"{self.billed_requests} billed request(s)"
        if self.unknown_effect:
            money += f", {self.unknown_effect} of unknown effect (answer lost)"
        return f"generation: {', '.join(parts)}; {money} in {self.elapsed:.1f} s"


def _is_generation_action(action: Action) -> bool:
    """Made by plan_generation: a generation address and one of its job payloads."""
    address_ok = action.address == SUMMARY_ADDRESS or action.address.startswith(ADDRESS_PREFIXES)
    return address_ok and (action.payload.get("job") in JOBS or action.payload.get("job") == "summary")


async def run_generation(
    actions: Sequence[Action],
    client: Any,
    manifest: Manifest,
    output_dir: Path,
    *,
    concurrency: int = 4,
    on_progress: ProgressCallback | None = None,
    lock_pins: MutableMapping[str, str],
    models: Mapping[str, ModelRef] | None = None,
    wait_timeout: float = 600.0,
    poll_interval: float = 1.0,
    max_poll_interval: float = 10.0,
) -> RunReport:
    """Carry out `actions` (from plan_generation) and return what happened."""
    if concurrency < 1:
        raise GenerationError(f"concurrency must be at least 1, not {concurrency}")
    started = time.monotonic()
    output_dir = Path(output_dir)
    ctx = JobContext(
        client=client,
        manifest=manifest,
        output_dir=output_dir,
        lock_pins=lock_pins,
        models=dict(models or {}),
        wait_timeout=wait_timeout,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
    )
    report = RunReport()
    mine = [a for a in actions if _is_generation_action(a)]
    work = [a for a in mine if a.is_change]
    total = len(work)
    finished = 0
    events = {a.address: asyncio.Event() for a in work}
    succeeded: dict[str, bool] = {}
    gate = asyncio.Semaphore(concurrency)
    if manifest.moving_to is not None:  # found at the old default folder: moved here first, no request
        summary = next((a.payload for a in mine if a.payload.get("job") == "summary"), {})
        await asyncio.to_thread(move_outputs, manifest, summary.get("spec") or "")
    await asyncio.to_thread(sweep_own_partial_files, output_dir)

    def progress() -> None:
        nonlocal finished
        finished += 1
        if on_progress is not None:
            on_progress(finished, total)

    async def one(action: Action) -> None:
        try:
            for dep in action.depends_on:
                if dep in events:
                    await events[dep].wait()
                    if not succeeded.get(dep):
                        report.skipped.append((action.address, f"{dep} did not complete"))
                        succeeded[action.address] = False
                        return
            async with gate:
                succeeded[action.address] = await _carry_out(ctx, action, report)
        finally:
            events[action.address].set()
            progress()

    if on_progress is not None:
        on_progress(0, total)
    try:
        await asyncio.gather(*(one(a) for a in work))
        for action in mine:
            p = action.payload
            if p.get("job") == "summary":
                manifest.mark_current(p.get("desired", ()), spec=p.get("spec") or "", models=p.get("models"))
    finally:
        report.billed_requests = ctx.accepted
        report.sent_requests = ctx.posts
        report.paid_again = list(ctx.paid_again)
        report.elapsed = time.monotonic() - started
        manifest.save()
    return report


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


async def _carry_out(ctx: JobContext, action: Action, report: RunReport) -> bool:
    job = action.payload.get("job")
    try:
        if job == "structured_prompt":
            outcome = await run_structured_prompt(ctx, action)
        elif job == "delete":
            outcome = run_delete(ctx, action)
        elif job == "restore":
            outcome = run_restore(ctx, action)
        else:
            outcome = await run_output(ctx, action)
    except ActionFailed as exc:
        report.failed.append((action.address, exc.describe()))
        if exc.answer_lost:
            report.answer_lost.append(action.address)
        if exc.still_running:
            report.still_running.append(action.address)
        if exc.interrupted:
            report.interrupted.append(action.address)
        return False
    except (GenerationError, OSError) as exc:
        report.failed.append((action.address, exc.describe() if isinstance(exc, GenerationError) else str(exc)))
        return False
    {"generated": report.generated, "resumed": report.resumed, "pinned": report.pinned,
     "deleted": report.deleted, "restored": report.restored}[outcome].append(action.address)
    return True
