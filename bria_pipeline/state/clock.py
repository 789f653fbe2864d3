"""The time state records: UTC, ISO 8601, to the second (``2025-06-01T10:02:11+00:00``)."""

from __future__ import annotations

from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
