"""The client's clock in tests: waits move the sandbox's ManualClock, no wall time passes.

`DrivenPipeline` is a Pipeline on a sandbox handed in whose client waits on that clock.

Imported by its unique name: tests/ is on the import path (tests/conftest.py sits there)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bria_pipeline.pipeline import Pipeline
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


class DrivenPipeline(Pipeline):
    """A Pipeline (on a sandbox handed in, or served) whose client waits on the sandbox's clock."""

    def __init__(self, spec: Path, clock: ManualClock, **kw: Any) -> None:
        super().__init__(spec, clock=DrivenClock(clock), **kw)
        self.sandbox_clock = clock
