"""Where Bria's public material disagrees with the contract, the sandbox can answer either way.

`ApiVariant` is plain configuration (JSON-friendly, replaceable at runtime through
`POST /_sandbox/variant`), like the fault plan. The default follows the contract; each field
switches one behaviour to what another published source says:

- training_version   "latest": the request field is accepted, datasets and models are `fibo`
                     and a project is locked to the family of its first dataset.
                     "transitional": as transitional docs say: datasets and models are `max`
                     (legacy) unless `training_version` is sent; a legacy dataset refuses a
                     visual schema; v2 tailored generation only from `fibo` models; a `fibo`
                     dataset cannot be created in a legacy project (nor the reverse).
                     "refuse_field": any request carrying `training_version` answers 422
                     naming it (an API that no longer knows the field).
- job_status_case    "upper" (the docs), "lower" or "title": how /v2/status spells statuses.
- job_failure_status what a failed generation job reports: "ERROR" (the docs), "FAILED" (other
                     published material), or any other word.
- unknown_polls      every finished job first answers UNKNOWN this many times.
- url_ttl_seconds    a result URL handed out dies this many clock seconds later (403, as an
                     expired pre-signed URL); the status service hands out a fresh one.
- result_ttl_seconds a job and its result are gone after this (404 at /v2/status): Bria keeps
                     generated assets 3 days.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bria_pipeline.sandbox.faults import settings_from_json

TRAINING_VERSION_MODES = ("latest", "transitional", "refuse_field")
STATUS_CASES = ("upper", "lower", "title")
TRAINING_VERSIONS = ("fibo", "max", "light")
LEGACY_VERSIONS = ("max", "light")
THREE_DAYS = 3 * 24 * 3600.0
MAX_TTL = 10 * 365 * 24 * 3600.0


class ApiVariantError(ValueError):
    """A variant field has the wrong type or value."""


def _number(name: str, value: Any, *, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ApiVariantError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")


@dataclass
class ApiVariant:
    training_version: str = "latest"
    job_status_case: str = "upper"
    job_failure_status: str = "ERROR"
    unknown_polls: int = 0
    url_ttl_seconds: float = THREE_DAYS
    result_ttl_seconds: float = THREE_DAYS

    def __post_init__(self) -> None:
        if self.training_version not in TRAINING_VERSION_MODES:
            raise ApiVariantError(f"training_version must be one of {', '.join(TRAINING_VERSION_MODES)}, "
                                  f"got {self.training_version!r}")
        if self.job_status_case not in STATUS_CASES:
            raise ApiVariantError(f"job_status_case must be one of {', '.join(STATUS_CASES)}, got {self.job_status_case!r}")
        status = self.job_failure_status
        if not isinstance(status, str) or not status.strip() or len(status) > 40:
            raise ApiVariantError(f"job_failure_status must be a word of at most 40 characters, got {status!r}")
        polls = self.unknown_polls
        if isinstance(polls, bool) or not isinstance(polls, int) or not 0 <= polls <= 100:
            raise ApiVariantError(f"unknown_polls must be an integer from 0 to 100, got {polls!r}")
        _number("url_ttl_seconds", self.url_ttl_seconds, low=0.001, high=MAX_TTL)
        _number("result_ttl_seconds", self.result_ttl_seconds, low=0.001, high=MAX_TTL)

    @property
    def transitional(self) -> bool:
        return self.training_version == "transitional"

    def job_status(self, status: str) -> str:
        """A status word as this variant spells it (ERROR becomes job_failure_status first)."""
        word = self.job_failure_status if status == "ERROR" else status
        if self.job_status_case == "lower":
            return word.lower()
        if self.job_status_case == "title":
            return word.replace("_", " ").title().replace(" ", "_")
        return word

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ApiVariant:
        return settings_from_json(cls, data, "an API variant", ApiVariantError)
