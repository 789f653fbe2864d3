"""What the executor reports while it works, for progress bars and logs.

`on_progress(event)` is called from the event loop's thread. `done`/`total` are counts when known
(training steps, images captioned, outputs generated), else None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["plan", "begin", "advance", "end", "running", "fail", "skip", "note"]


@dataclass(frozen=True)
class ProgressEvent:
    kind: EventKind
    address: str = ""
    message: str = ""
    done: int | None = None
    total: int | None = None


ProgressCallback = Callable[[ProgressEvent], None]
