"""Errors of carrying a plan out.

    BriaPipelineError
     └── ApplyError             the apply did not reach the spec (names the steps that failed)
          ├── ApprovalRequired  the plan deletes or supersedes trained work and nobody approved
          └── ApplyInterrupted  Ctrl-C (or SIGTERM): state saved, how to resume in the hint
"""

from __future__ import annotations

from ..errors import BriaPipelineError

RESUME_HINT = "run the same apply again: it re-reads the remote and picks up where this one stopped"


class ApplyError(BriaPipelineError):
    """Base of this layer's errors."""


class StepError(ApplyError):
    """One step cannot be carried out (raised inside a step, reported per address)."""


class ApprovalRequired(ApplyError):
    """Deleting or replacing trained work needs --auto-approve (or a yes at the prompt)."""


class ApplyInterrupted(ApplyError):
    """The apply was interrupted; everything done so far is recorded."""

    hint = RESUME_HINT
