"""Clocks the sandbox runs on.

Everything that takes time upstream (training steps, checkpoints, caption regeneration,
bulk-upload progress, asynchronous generations) is computed from `clock.now()` whenever a
request arrives, so the sandbox needs no background threads and a `ManualClock` makes every
transition happen exactly when a test says so.

- `ScaledClock(speed=1.0)`  wall time, optionally sped up (the default clock)
- `WallClock()`             plain wall time
- `ManualClock(start=...)`  stands still until `advance(seconds)` is called
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

DEFAULT_MANUAL_START = "2025-01-01T00:00:00Z"


@runtime_checkable
class Clock(Protocol):
    """Anything with `now()` returning POSIX seconds."""

    def now(self) -> float: ...


def to_epoch(value: float | int | str | datetime) -> float:
    """Accept POSIX seconds, an ISO 8601 string or a datetime (naive means UTC)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def iso(epoch: float) -> str:
    """ISO 8601 / RFC 3339 in UTC with microseconds, e.g. 2025-01-01T00:00:00.000000Z."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ScaledClock:
    """Wall time running `speed` times faster, starting at `start` (default: now)."""

    def __init__(self, speed: float = 1.0, start: float | str | datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._origin = time.time() if start is None else to_epoch(start)
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._mono0) * self.speed

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self.speed})"


class WallClock(ScaledClock):
    """Plain wall time."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "WallClock()"


class ManualClock:
    """A clock that only moves when told to: `advance(seconds)` or `set(when)`."""

    def __init__(self, start: float | str | datetime = DEFAULT_MANUAL_START) -> None:
        self._now = to_epoch(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += float(seconds)
            return self._now

    def set(self, when: float | str | datetime) -> float:
        target = to_epoch(when)
        with self._lock:
            if target < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = target
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={iso(self._now)!r})"
