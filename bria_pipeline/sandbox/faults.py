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
from typing import Any

LOSE_MODES = ("drop", "502")


class FaultPlanError(ValueError):
    """A fault plan field has the wrong type or value."""


@dataclass
class FaultPlan:
    """What the sandbox does wrong on purpose.

    - latency_ms: added to every API request (real time, not clock time)
    - error_rate: share of API requests answered 500 before doing anything
    - rate_limit_per_minute: per token and per endpoint (method + route template); 429 + Retry-After
    - quota: total API requests per token; then 403 "Quota exceeded: ..."
    - lose_response_rate: share of mutating requests (POST/PUT/DELETE) whose response is lost
      after the change is committed; lose_response_routes limits it to some endpoints
      ("POST /v1/tailored-gen/datasets" or just "/v1/tailored-gen/datasets"); lose_mode "drop"
      closes the connection without an answer, "502" answers 502 Bad Gateway
    - generation_error_rate: share of generation jobs that end with status ERROR
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

    def __post_init__(self) -> None:
        for name in ("error_rate", "lose_response_rate", "generation_error_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise FaultPlanError(f"{name} must be a number between 0 and 1, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise FaultPlanError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.latency_ms, (int, float)) or isinstance(self.latency_ms, bool) or self.latency_ms < 0:
            raise FaultPlanError(f"latency_ms must be a number >= 0, got {self.latency_ms!r}")
        for name in ("rate_limit_per_minute", "quota"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise FaultPlanError(f"{name} must be a non-negative integer or null, got {value!r}")
        if self.lose_mode not in LOSE_MODES:
            raise FaultPlanError(f"lose_mode must be one of {', '.join(LOSE_MODES)}, got {self.lose_mode!r}")
        routes = self.lose_response_routes
        if routes is not None and (not isinstance(routes, list) or not all(isinstance(r, str) for r in routes)):
            raise FaultPlanError("lose_response_routes must be a list of strings or null")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        if not isinstance(data, dict):
            raise FaultPlanError("a fault plan is a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultPlanError(f"unknown fault plan field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except TypeError as exc:  # pragma: no cover - guarded by the field check above
            raise FaultPlanError(str(exc)) from exc


@dataclass
class Admission:
    """The gate's verdict for one request."""

    status: int | None = None  # None: let it through
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
            if plan.quota is not None:
                self._counters.quota_used[org] = self._counters.quota_used.get(org, 0) + 1
            if plan.error_rate and self._errors.random() < plan.error_rate:
                verdict.status = 500
                return verdict
            if method in ("POST", "PUT", "DELETE") and plan.lose_response_rate and self._route_may_lose(plan, method, template):
                verdict.lose_response = self._losses.random() < plan.lose_response_rate
            return verdict

    @staticmethod
    def _route_may_lose(plan: FaultPlan, method: str, template: str) -> bool:
        if plan.lose_response_routes is None:
            return True
        for entry in plan.lose_response_routes:
            entry = entry.strip()
            if entry == template or entry == f"{method} {template}":
                return True
        return False

    def generation_fails(self) -> bool:
        with self._lock:
            rate = self._plan.generation_error_rate
            return bool(rate) and self._generations.random() < rate
