"""What an apply did, step by step, and a line to say so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StepStatus = Literal["done", "failed", "skipped", "running", "deferred"]  # deferred: waits on a running job


@dataclass(frozen=True)
class StepResult:
    address: str
    status: StepStatus
    message: str = ""


@dataclass
class ApplyResult:
    """`ok` when nothing failed or was skipped; steps left `running` (--no-wait), and the steps
    `deferred` until they finish, are fine: the next apply picks them up."""

    operation: str = "apply"
    steps: list[StepResult] = field(default_factory=list)
    generation: Any = None  # generate.runner.RunReport when outputs were generated
    requests: dict[str, Any] = field(default_factory=dict)  # API requests this apply sent
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    lock_written: bool = False
    cancelled: bool = False  # the plan was shown and declined: nothing was sent

    def by_status(self, status: StepStatus) -> list[StepResult]:
        return [s for s in self.steps if s.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status("failed") and not self.by_status("skipped")

    @property
    def still_running(self) -> list[StepResult]:
        return self.by_status("running")

    def summary(self) -> str:
        done, failed = len(self.by_status("done")), len(self.by_status("failed"))
        skipped, running = len(self.by_status("skipped")), len(self.by_status("running"))
        deferred = len(self.by_status("deferred"))
        verb = "Destroy" if self.operation == "destroy" else "Apply"
        state = "complete" if self.ok else "incomplete"
        text = f"{verb} {state}: {done} done, {failed} failed, {skipped} skipped"
        if running:
            text += f", {running} still running"
        if deferred:
            text += f", {deferred} deferred"
        text += f" ({self.requests.get('total', 0)} requests, {self.requests.get('mutating', 0)} mutating, {self.elapsed:.1f} s)."
        if running:
            text += " Training in progress: the next apply picks it up."
        report = self.generation
        if report is not None and (report.billed_requests or report.unknown_effect):
            text += f" Generation: {report.billed_requests} billed request(s)"
            text += f", {report.unknown_effect} of unknown effect (answer lost)." if report.unknown_effect else "."
        return text
