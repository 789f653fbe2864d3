"""The sandbox's shared state: database, files, clock, fault gate, timings, request counters.

One `Sandbox` per app (reachable from a request as `request.app.state.sandbox`).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bria_pipeline.sandbox.clock import Clock
from bria_pipeline.sandbox.faults import FaultGate
from bria_pipeline.sandbox.store import BlobStore, Database


@dataclass(frozen=True)
class Timings:
    """How long emulated work takes, in clock seconds."""

    training_seconds: float = 3.0
    generation_seconds: float = 0.2
    video_seconds: float = 0.5
    caption_min_seconds: float = 0.2
    caption_seconds_per_image: float = 0.005
    bulk_start_seconds: float = 0.1
    bulk_seconds_per_image: float = 0.002

    @property
    def stop_seconds(self) -> float:
        return max(0.05, self.training_seconds / 10)

    def captions(self, images: int) -> float:
        return max(self.caption_min_seconds, images * self.caption_seconds_per_image)


MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class Stats:
    """Counts API requests by method and route template (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()

    def record(self, method: str, template: str) -> None:
        with self._lock:
            self._routes[f"{method} {template}"] += 1

    def record_status(self, status: int) -> None:
        with self._lock:
            self._statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            routes = dict(sorted(self._routes.items()))
            statuses = dict(sorted(self._statuses.items()))
        mutating = sum(n for key, n in routes.items() if key.split(" ", 1)[0] in MUTATING)
        total = sum(routes.values())
        return {"total": total, "mutating": mutating, "reading": total - mutating, "routes": routes, "statuses": statuses}

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self._statuses.clear()


class Sandbox:
    def __init__(self, db: Database, blobs: BlobStore, clock: Clock, gate: FaultGate, timings: Timings,
                 base_url: str | None) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock
        self.gate = gate
        self.timings = timings
        self.base_url = base_url.rstrip("/") if base_url else None
        self.stats = Stats()
        self._secret = db.secret().encode()

    def now(self) -> float:
        return self.clock.now()

    def sign(self, kind: str, ident: int | str) -> str:
        """An unguessable suffix for file URLs that are not content-addressed (pre-signed style)."""
        return hmac.new(self._secret, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:20]

    def close(self) -> None:
        self.db.close()
        self.blobs.close()
