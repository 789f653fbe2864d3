"""What an apply did, step by step, and a line to say so.

A step's handler returns its outcome: a message (`str`), or `Done` when the step also counts in
the generation report. A step whose long job outlives the wait raises `errors.StillRunning`
(recorded `running`); one that cannot be carried out raises a `StepError` (recorded `failed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

StepStatus = Literal["done", "failed", "skipped", "running", "deferred"]  # deferred: waits on a running job
Tally = Literal["generated", "resumed", "pinned", "deleted", "restored"]


@dataclass(frozen=True)
class Done:
    """A step carried out: what to say, and the generation report's list it counts in."""

    message: str
    tally: Tally | None = None


Outcome = str | Done  # what a step's handler returns


@dataclass(frozen=True)
class StepResult:
    address: str
    status: StepStatus
    message: str = ""
    waits_on: str = ""  # a `running` step: the job it waits for (a training, a generation request)


@dataclass
class GenerationReport:
    """What the generation steps of an apply did. `ok` when nothing failed or was skipped."""

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


@dataclass(frozen=True)
class StepCounts:
    """How many steps ended in each status."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    deferred: int = 0

    @classmethod
    def of(cls, steps: list[StepResult]) -> StepCounts:
        return cls(**{status: sum(s.status == status for s in steps) for status in STATUSES})

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped

    def line(self) -> str:
        """``3 done, 0 failed, 0 skipped`` (running and deferred steps when there are some)."""
        text = f"{self.done} done, {self.failed} failed, {self.skipped} skipped"
        if self.running:
            text += f", {self.running} still running"
        if self.deferred:
            text += f", {self.deferred} deferred"
        return text


STATUSES: tuple[StepStatus, ...] = get_args(StepStatus)


def kind_of(address: str) -> str:
    """The kind of resource an address names: ``model.lucy-lora.training`` -> ``model``."""
    return address.split(".", 1)[0].split("[", 1)[0]


@dataclass
class ApplyResult:
    """`ok` when nothing failed or was skipped; steps left `running` (--no-wait), and the steps
    `deferred` until they finish, are fine: the next apply picks them up."""

    operation: str = "apply"
    steps: list[StepResult] = field(default_factory=list)
    generation: GenerationReport | None = None  # when the plan had generation steps
    requests: dict[str, Any] = field(default_factory=dict)  # API requests this apply sent
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    lock_written: bool = False
    cancelled: bool = False  # the plan was shown and declined: nothing was sent

    def by_status(self, status: StepStatus) -> list[StepResult]:
        return [s for s in self.steps if s.status == status]

    @property
    def counts(self) -> StepCounts:
        """How many steps ended in each status."""
        return StepCounts.of(self.steps)

    def counts_by_kind(self) -> dict[str, StepCounts]:
        """The same, per kind of resource (project, dataset, model, generation, video, backend)."""
        kinds: dict[str, list[StepResult]] = {}
        for step in self.steps:
            kinds.setdefault(kind_of(step.address), []).append(step)
        return {kind: StepCounts.of(steps) for kind, steps in kinds.items()}

    @property
    def ok(self) -> bool:
        return self.counts.ok

    @property
    def still_running(self) -> list[StepResult]:
        return self.by_status("running")

    def counts_line(self) -> str:
        """``Apply complete: 30 done, 0 failed, 0 skipped``: the summary's head, from `counts`."""
        counts = self.counts
        verb = "Destroy" if self.operation == "destroy" else "Apply"
        return f"{verb} {'complete' if counts.ok else 'incomplete'}: {counts.line()}"

    def summary(self) -> str:
        text = self.counts_line()
        text += f" ({self.requests.get('total', 0)} requests, {self.requests.get('mutating', 0)} mutating, {self.elapsed:.1f} s)."
        if self.counts.running:
            jobs = sorted({s.waits_on or "a job" for s in self.still_running})
            text += f" {' and '.join(jobs).capitalize()} in progress: the next apply picks it up."
        report = self.generation
        if report is not None and (report.billed_requests or report.unknown_effect):
            text += f" Generation: {report.billed_requests} billed request(s)"
            text += f", {report.unknown_effect} of unknown effect (answer lost)." if report.unknown_effect else "."
        return text
