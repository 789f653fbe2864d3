"""What the client did: requests per operation, retries, read-backs; and the events it reports.

`client.stats` is what `-v` prints; `on_event` receives an ApiEvent for every request and every
decision (retry, pause, read-back, adoption) as it happens. Neither ever holds the token: events
carry the path, never headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal[
    "request",  # one send finished (status or error)
    "retry",  # about to send again after `wait` seconds
    "rate_limited",  # a 429: everyone pauses
    "readback",  # an ambiguous failure: reading the server's state
    "adopted",  # the read-back found what the lost request created
    "ambiguous",  # the outcome is unknown and could not be read back
    "halted",  # quota exceeded: nothing more is sent
]


@dataclass(frozen=True)
class ApiEvent:
    kind: EventKind
    operation: str
    method: str
    path: str
    attempt: int = 1
    status: int | None = None
    elapsed: float | None = None
    wait: float | None = None
    message: str = ""

    def describe(self) -> str:
        bits = [self.kind, self.operation, f"{self.method} {self.path}"]
        if self.status is not None:
            bits.append(str(self.status))
        if self.attempt > 1:
            bits.append(f"attempt {self.attempt}")
        if self.elapsed is not None:
            bits.append(f"{self.elapsed * 1000:.0f} ms")
        if self.wait:
            bits.append(f"wait {self.wait:.2f} s")
        if self.message:
            bits.append(self.message)
        return " ".join(bits)


EventHandler = Callable[[ApiEvent], None]


@dataclass
class RequestStats:
    """Counts of requests sent (every attempt counts: the server counts them too)."""

    by_operation: Counter[str] = field(default_factory=Counter)
    total: int = 0
    mutating: int = 0
    retries: int = 0
    rate_limited: int = 0
    readbacks: int = 0
    adopted: int = 0
    errors: int = 0
    seconds: float = 0.0

    def record(self, operation: str, mutating: bool, elapsed: float, failed: bool) -> None:
        self.by_operation[operation] += 1
        self.total += 1
        self.mutating += int(mutating)
        self.errors += int(failed)
        self.seconds += elapsed

    @property
    def reading(self) -> int:
        return self.total - self.mutating

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "mutating": self.mutating,
            "reading": self.reading,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "readbacks": self.readbacks,
            "adopted": self.adopted,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "operations": dict(sorted(self.by_operation.items())),
        }

    def summary(self) -> str:
        """One line, e.g. `12 requests (3 mutating), 1 retry, 0 read-backs in 0.84 s`."""
        text = f"{self.total} requests ({self.mutating} mutating)"
        text += f", {self.retries} {'retry' if self.retries == 1 else 'retries'}"
        if self.rate_limited:
            text += f", {self.rate_limited} rate-limited"
        text += f", {self.readbacks} read-back{'s' if self.readbacks != 1 else ''}"
        if self.adopted:
            text += f" ({self.adopted} adopted)"
        return text + f" in {self.seconds:.2f} s"
