"""The sandbox's shared state: database, files, clock, fault gate, timings, request counters.

One `Sandbox` per app (reachable from a request as `request.app.state.sandbox`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from collections import Counter
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

from bria_pipeline.sandbox.clock import Clock
from bria_pipeline.sandbox.faults import FaultGate
from bria_pipeline.sandbox.store import BlobStore, Database
from bria_pipeline.sandbox.variant import ApiVariant


DEFAULT_TRAINING_STEPS = 750


@dataclass(frozen=True)
class Timings:
    """How long emulated work takes, in clock seconds."""

    training_seconds: float = 3.0  # a training of the default 750 steps; others take proportionally long
    generation_seconds: float = 0.2
    video_seconds: float = 0.5
    caption_min_seconds: float = 0.2
    caption_seconds_per_image: float = 0.005
    bulk_start_seconds: float = 0.1
    bulk_seconds_per_image: float = 0.002

    @property
    def stop_seconds(self) -> float:
        return max(0.05, self.training_seconds / 10)

    def training(self, total_steps: int) -> float:
        """A training's duration: `training_seconds` per 750 steps (the API's default)."""
        return self.training_seconds * total_steps / DEFAULT_TRAINING_STEPS

    def captions(self, images: int) -> float:
        return max(self.caption_min_seconds, images * self.caption_seconds_per_image)


MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class Stats:
    """Counts API requests by method and route template, and the billed work the sandbox
    accepted (a generation job saved, a training started), whether or not its answer reached
    the client (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._billed: Counter[str] = Counter()

    def record_billed(self, kind: str) -> None:
        with self._lock:
            self._billed[kind] += 1

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
            billed = dict(sorted(self._billed.items()))
        mutating = sum(n for key, n in routes.items() if key.split(" ", 1)[0] in MUTATING)
        total = sum(routes.values())
        return {"total": total, "mutating": mutating, "reading": total - mutating, "routes": routes, "statuses": statuses,
                "billed": {"total": sum(billed.values()), **billed}}

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self._statuses.clear()
            self._billed.clear()


class Sandbox:
    def __init__(self, db: Database, blobs: BlobStore, clock: Clock, gate: FaultGate, timings: Timings,
                 base_url: str | None, variant: ApiVariant | None = None) -> None:
        self.variant = variant or ApiVariant()
        self.unknown_answers: Counter[str] = Counter()  # request_id -> UNKNOWN answers given
        self.dead_urls: dict[str, int] = {}  # file path -> URLs issued up to this serial are dead
        self._url_serial = 0  # counts signed URLs: `issued` in each, so a fresh one differs from a killed one
        self._serial_lock = threading.Lock()
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

    def signed_url(self, url: str, expires: float) -> str:
        """A result URL that dies at `expires` (clock seconds), as a pre-signed storage URL does."""
        path = _path_of(url)
        with self._serial_lock:
            self._url_serial += 1
            issued = str(self._url_serial)
        stamp = int(math.ceil(expires))
        signature = self.sign("url", f"{path}:{issued}:{stamp}")
        return f"{url.split('?', 1)[0]}?issued={issued}&expires={stamp}&signature={signature}"

    def kill_urls(self, url: str) -> None:
        """Every URL of this file handed out until now is dead (fresh ones signed later live)."""
        with self._serial_lock:
            self.dead_urls[_path_of(url)] = self._url_serial

    def url_alive(self, path: str, query: Mapping[str, str]) -> bool | None:
        """None for an unsigned URL; else whether it is rightly signed, unexpired and not killed."""
        issued, expires, signature = query.get("issued"), query.get("expires"), query.get("signature")
        if issued is None and expires is None and signature is None:
            return None
        if not hmac.compare_digest(signature or "", self.sign("url", f"{path}:{issued}:{expires}")):
            return False
        try:
            born, stamp = int(issued or ""), int(expires or "")
        except ValueError:
            return False
        dead_since = self.dead_urls.get(path)
        return self.now() < stamp and (dead_since is None or born > dead_since)

    def close(self) -> None:
        self.db.close()
        self.blobs.close()


def _path_of(url: str) -> str:
    """The path of an absolute or root-relative URL, without its query."""
    rest = url.split("?", 1)[0]
    if "://" in rest:
        rest = "/" + rest.split("://", 1)[1].split("/", 1)[-1]
    return rest
