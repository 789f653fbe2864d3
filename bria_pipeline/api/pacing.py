"""Client-side rate pacing: requests leave no faster than the plan allows, so no 429 comes back.

Bria counts requests per organization and endpoint (status polls included) against a per-minute
limit (10 / 60 / 1000 depending on the plan). The limiter spaces requests evenly: one slot every
60/rate seconds, handed out in order to all concurrent callers. With `per_endpoint=True` each
endpoint (method + path template) has its own spacing, as Bria counts; otherwise all share one,
which is stricter.

When a 429 arrives anyway (another process shares the organization's budget), the limiter
pauses every caller until the server's Retry-After has passed and halves its rate; each later
success wins back a little of it, up to the configured rate.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from dataclasses import dataclass

from bria_pipeline.api.clock import Clock, SystemClock

# Slots are spaced slightly wider than 60/rate so a server counting a sliding minute,
# inclusive at both ends, never sees rate + 1.
SAFETY = 1.02
MIN_FACTOR = 1 / 16
RECOVERY_STEP = 0.05


def shared_rate(limit_per_minute: float, share: Fraction | float = 1) -> float:
    """The pace of one of several processes that share the organisation's limit.

    Bria counts requests per organisation, so N processes each paced at the whole limit send N
    times it. Giving each a share whose sum is at most 1 keeps the total under the limit:
    ``shared_rate(60, Fraction(1, 4))`` is 15 requests a minute, and four of them together
    send 60. The 429 back-off above still covers a process that did not take its share.
    """
    if not 0 < share <= 1:
        raise ValueError(f"a share is more than 0 and at most 1 (1/4, 0.25), not {share}")
    return float(limit_per_minute) * float(share)


@dataclass
class PacingStats:
    waited_seconds: float = 0.0
    paused_by_429: int = 0


class RateLimiter:
    def __init__(
        self,
        per_minute: float | None,
        *,
        per_endpoint: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if per_minute is not None and per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.per_endpoint = per_endpoint
        self.clock = clock or SystemClock()
        self.factor = 1.0  # adaptive share of the configured rate
        self.stats = PacingStats()
        self._next: dict[str, float] = {}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    @property
    def effective_per_minute(self) -> float | None:
        return None if self.per_minute is None else self.per_minute * self.factor

    def _interval(self) -> float:
        rate = self.effective_per_minute
        return 0.0 if rate is None else 60.0 / rate * SAFETY

    async def acquire(self, endpoint: str) -> float:
        """Wait for this request's slot; returns the seconds waited."""
        key = endpoint if self.per_endpoint else "*"
        async with self._lock:
            now = self.clock.monotonic()
            start = max(now, self._paused_until, self._next.get(key, 0.0))
            self._next[key] = start + self._interval()
        wait = start - now
        if wait > 0:
            self.stats.waited_seconds += wait
            await self.clock.sleep(wait)
        return max(0.0, wait)

    def on_rate_limited(self, retry_after: float | None, fallback: float) -> None:
        """A 429 came back: hold everyone until Retry-After (or `fallback`), and slow down."""
        self.stats.paused_by_429 += 1
        pause = retry_after if retry_after is not None else fallback
        self._paused_until = max(self._paused_until, self.clock.monotonic() + pause)
        self.factor = max(MIN_FACTOR, self.factor / 2)

    def on_success(self) -> None:
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + RECOVERY_STEP)
