"""When to try a request again, and how long to wait first.

Exponential backoff with jitter, the server's Retry-After honoured, bounded both by a number of
attempts and by the total time spent on one call. What is retried (429, 5xx, timeouts, lost
connections) and for which operations is decided in session.py from the operation table: this
module only knows about time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries.

    max_attempts     sends of one request in all (1 = never retry)
    max_elapsed      seconds from the first send after which no new attempt starts
    base_delay       the first backoff, doubled (`multiplier`) on each further attempt ...
    max_delay        ... up to this
    jitter           fraction of each backoff drawn at random (0 = none, 1 = "full jitter")
    max_retry_after  a Retry-After longer than this is not waited for: the error is raised
    """

    max_attempts: int = 5
    max_elapsed: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `retry_number` (1 for the first retry)."""
        raw = min(self.max_delay, self.base_delay * self.multiplier ** max(0, retry_number - 1))
        r = (rng or random).random()
        return raw * (1 - self.jitter * r)

    def wait_before_retry(
        self, retry_number: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """The server's Retry-After when it gave one, else the backoff; never less than either."""
        pause = self.backoff(retry_number, rng)
        if retry_after is not None:
            pause = max(pause, retry_after)
        return pause

    def allows(self, attempt: int, elapsed: float, pause: float) -> bool:
        """May attempt number `attempt + 1` start after waiting `pause` more seconds?"""
        return attempt < self.max_attempts and elapsed + pause <= self.max_elapsed


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
