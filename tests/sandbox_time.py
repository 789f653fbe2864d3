"""The client's clock in tests: waits move the sandbox's ManualClock, no wall time passes.

Imported by its unique name: tests/ is on the import path (tests/conftest.py sits there)."""

from __future__ import annotations

import asyncio

from bria_pipeline.sandbox import ManualClock


class DrivenClock:
    """The client's clock in tests: sleeping advances the sandbox's ManualClock."""

    def __init__(self, manual: ManualClock) -> None:
        self.manual = manual
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.manual.now()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.manual.advance(seconds)
            self.slept += seconds
        await asyncio.sleep(0)
