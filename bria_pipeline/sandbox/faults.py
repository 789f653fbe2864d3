"""Fault injection and limits: what can go wrong between a client and the API.

`FaultPlan` is plain configuration (JSON-friendly, replaceable at runtime through
`POST /_sandbox/faults`).  `FaultGate` holds the mutable side: seeded random streams,
per-token quota usage and per-token-and-endpoint rate windows.  Decisions are drawn from
independent streams seeded by `plan.seed`, so the same sequence of requests meets the same
faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

LOSE_MODES = ("drop", "502")
ERROR_STATUSES = (500, 502, 503, 504, 401, 403)
MAX_LATENCY_MS = 60_000.0
_S = TypeVar("_S")


class FaultPlanError(ValueError):
    """A fault plan field has the wrong type or value."""


@dataclass
class FaultPlan:
    """What the sandbox does wrong on purpose.

    - latency_ms: added to every API request (real time, not clock time), at most a minute
    - error_rate: share of API requests answered `error_status` (500) before doing anything;
      error_routes limits it to some endpoints (as lose_response_routes does), e.g.
      ["GET /v2/status/{request_id}"] for a status service failing while generations go through
    - rate_limit_per_minute: per token and per endpoint (method + route template); 429 + Retry-After
    - quota: total API requests per token; then 403 "Quota exceeded: ..."
    - lose_response_rate: share of mutating requests (POST/PUT/DELETE) whose response is lost
      after the change is committed; lose_response_routes limits it to some endpoints
      ("POST /v1/tailored-gen/datasets" or just "/v1/tailored-gen/datasets"); lose_mode "drop"
      closes the connection without an answer, "502" answers 502 Bad Gateway
    - generation_error_rate: share of generation jobs that end with status ERROR
    - throttle_rate: share of API requests answered 429 with `Retry-After: throttle_retry_after`
      seconds, whatever the rate limit (another process of the organisation using the quota)
    """

    seed: int = 0
    latency_ms: float = 0
    error_rate: float = 0.0
    rate_limit_per_minute: int | None = None
    quota: int | None = None
    lose_response_rate: float = 0.0
    lose_response_routes: list[str] | None = None
    lose_mode: str = "drop"
    generation_error_rate: float = 0.0
    error_routes: list[str] | None = None
    error_status: int = 500
    throttle_rate: float = 0.0
    throttle_retry_after: int = 1

    def __post_init__(self) -> None:
        for name in ("error_rate", "lose_response_rate", "generation_error_rate", "throttle_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise FaultPlanError(f"{name} must be a number between 0 and 1, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise FaultPlanError(f"seed must be an integer, got {self.seed!r}")
        latency = self.latency_ms
        if not isinstance(latency, (int, float)) or isinstance(latency, bool) or not 0 <= latency <= MAX_LATENCY_MS:
            raise FaultPlanError(f"latency_ms must be a number from 0 to {MAX_LATENCY_MS:.0f} (a minute), got {latency!r}")
        if self.seed < 0 or self.seed >= 2**63:
            raise FaultPlanError(f"seed must be from 0 to 2**63-1, got {self.seed!r}")
        wait = self.throttle_retry_after
        if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= 3600:
            raise FaultPlanError(f"throttle_retry_after must be an integer from 0 to 3600 seconds, got {wait!r}")
        if self.error_status not in ERROR_STATUSES or isinstance(self.error_status, bool):
            raise FaultPlanError(f"error_status must be one of {', '.join(map(str, ERROR_STATUSES))}, "
                                 f"got {self.error_status!r}")
        for name in ("rate_limit_per_minute", "quota"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise FaultPlanError(f"{name} must be a non-negative integer or null, got {value!r}")
        if self.lose_mode not in LOSE_MODES:
            raise FaultPlanError(f"lose_mode must be one of {', '.join(LOSE_MODES)}, got {self.lose_mode!r}")
        for name in ("lose_response_routes", "error_routes"):
            routes = getattr(self, name)
            if routes is not None and (not isinstance(routes, list) or len(routes) > 100
                                       or not all(isinstance(r, str) and len(r) <= 300 for r in routes)):
                raise FaultPlanError(f"{name} must be a list of at most 100 route strings, or null")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        return settings_from_json(cls, data, "a fault plan", FaultPlanError)


def settings_from_json(cls: type[_S], data: Any, what: str, error: type[ValueError]) -> _S:
    """A settings dataclass from a JSON object: unknown fields refused by name, each value checked
    by the class itself (its __post_init__ raises `error`)."""
    if not isinstance(data, dict):
        raise error(f"{what} is a JSON object")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown field(s) of {what}: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**data)
    except TypeError as exc:  # pragma: no cover - guarded by the field check above
        raise error(str(exc)) from exc


@dataclass
class Admission:
    """The gate's verdict for one request."""

    status: int | None = None  # None: let it through
    error: bool = False  # an injected error (the status is the plan's error_status)
    retry_after: int | None = None
    lose_response: bool = False
    latency_s: float = 0.0


@dataclass
class _Counters:
    quota_used: dict[str, int] = field(default_factory=dict)
    windows: dict[tuple[str, str], deque] = field(default_factory=dict)


class FaultGate:
    """Applies a FaultPlan to incoming API requests; thread-safe."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.replace(plan or FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def replace(self, plan: FaultPlan) -> None:
        """Install a new plan; the random streams restart from its seed."""
        with self._lock:
            self._plan = plan
            self._errors = random.Random(f"{plan.seed}:errors")
            self._losses = random.Random(f"{plan.seed}:losses")
            self._generations = random.Random(f"{plan.seed}:generations")
            self._throttles = random.Random(f"{plan.seed}:throttles")
            self._counters = _Counters()

    def reset_usage(self) -> None:
        """Forget quota usage and rate windows (the plan and its random streams stay)."""
        with self._lock:
            self._counters = _Counters()

    def admit(self, org: str, endpoint: str, method: str, template: str, now: float) -> Admission:
        """Decide what happens to a request by `org` (a token digest) to `endpoint`."""
        plan = self._plan
        with self._lock:
            verdict = Admission(latency_s=plan.latency_ms / 1000.0)
            if plan.quota is not None:
                used = self._counters.quota_used.get(org, 0)
                if used >= plan.quota:
                    verdict.status = 403
                    return verdict
            if plan.rate_limit_per_minute is not None:
                window = self._counters.windows.setdefault((org, endpoint), deque())
                while window and window[0] <= now - 60.0:
                    window.popleft()
                if len(window) >= plan.rate_limit_per_minute:
                    oldest = window[0] if window else now
                    verdict.status = 429
                    verdict.retry_after = max(1, math.ceil(oldest + 60.0 - now))
                    return verdict
                window.append(now)
            if plan.throttle_rate and self._throttles.random() < plan.throttle_rate:
                verdict.status, verdict.retry_after = 429, plan.throttle_retry_after
                return verdict
            if plan.quota is not None:
                self._counters.quota_used[org] = self._counters.quota_used.get(org, 0) + 1
            if plan.error_rate and _route_listed(plan.error_routes, method, template) \
                    and self._errors.random() < plan.error_rate:
                verdict.status, verdict.error = plan.error_status, True
                return verdict
            if method in ("POST", "PUT", "DELETE") and plan.lose_response_rate \
                    and _route_listed(plan.lose_response_routes, method, template):
                verdict.lose_response = self._losses.random() < plan.lose_response_rate
            return verdict

    def generation_fails(self) -> bool:
        with self._lock:
            rate = self._plan.generation_error_rate
            return bool(rate) and self._generations.random() < rate


def _route_listed(routes: list[str] | None, method: str, template: str) -> bool:
    """No list: every route; else the route's template, alone or after its method."""
    if routes is None:
        return True
    return any(entry.strip() in (template, f"{method} {template}") for entry in routes)
