"""Errors of carrying a plan out.

    BriaPipelineError
     └── ApplyError             the apply did not reach the spec (names the steps that failed)
          ├── StepError         one step cannot be carried out: recorded `failed`, its dependents skipped
          │    ├── AnswerLost       a paid request's answer was lost: it may have been made and billed
          │    └── WaitInterrupted  polling a recorded request failed: its id is kept, the next apply polls it
          ├── StillRunning      one step's long job (a training, a generation request) outlived the wait
          │                     (--no-wait, --timeout): recorded `running`, not a failure; its dependents
          │                     are deferred and the next apply picks it up
          ├── ApprovalRequired  the plan deletes or supersedes trained work and nobody approved
          └── ApplyInterrupted  Ctrl-C (or SIGTERM): state saved, how to resume in the hint

A step's error may name the generation report's list it is counted in (`REPORTED_AS`).
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import BriaPipelineError

RESUME_HINT = "run the same apply again: it re-reads the remote and picks up where this one stopped"


class ApplyError(BriaPipelineError):
    """Base of this layer's errors."""

    REPORTED_AS: ClassVar[str | None] = None  # a GenerationReport list a generation step's error goes in


class StepError(ApplyError):
    """One step cannot be carried out (raised inside a step, reported per address)."""


class AnswerLost(StepError):
    """A paid request left and its answer was lost: the service may have made (and billed) it."""

    REPORTED_AS = "answer_lost"


class WaitInterrupted(StepError):
    """Polling a recorded request failed (5xx past the retries, 401/403, a lost connection): the
    request id is kept and the next apply polls that same request, paying nothing again."""

    REPORTED_AS = "interrupted"


class StillRunning(ApplyError):
    """A step's long job is still running when the apply stops waiting for it (--no-wait, or the
    --timeout passed). Not a failure: the step ends `running`, and the next apply picks it up."""

    REPORTED_AS = "still_running"


class ApprovalRequired(ApplyError):
    """Deleting or replacing trained work needs --auto-approve (or a yes at the prompt)."""


class ApplyInterrupted(ApplyError):
    """The apply was interrupted; everything done so far is recorded."""

    hint = RESUME_HINT
