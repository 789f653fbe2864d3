"""Errors of planning.

    BriaPipelineError
     └── PlanError            a plan cannot be made, read or used
          ├── PlanFileError   a saved plan file is unreadable or not a plan (names the file)
          ├── StalePlanError  a saved plan no longer matches the spec, the lock file or the remote
          └── LegacyTrainingVersion  the spec's project or dataset is a legacy (max, light) one
"""

from __future__ import annotations

from ..errors import BriaPipelineError


class PlanError(BriaPipelineError):
    """Base of this layer's errors."""


class PlanFileError(PlanError):
    """A saved plan file cannot be used."""


class StalePlanError(PlanError):
    """A saved plan was made against a spec or remote state that has changed since."""


class LegacyTrainingVersion(PlanError):
    """The remote project, or a dataset the spec owns, was made for a legacy training version."""
