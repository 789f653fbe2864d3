"""The client's clock in tests: waits move the sandbox's ManualClock, no wall time passes.

`DrivenPipeline` is a Pipeline on a sandbox handed in whose client waits on that clock;
`driven_cli_time()` the clocks the CLI run in process takes for --sandbox (tests/conftest.py hands
them to every test); the fixtures `sandbox_clock` and `sandbox_app` (the real sandbox in process
on that clock), imported by name into a folder's conftest.py that uses them.

Imported by its unique name: tests/ is on the import path (tests/conftest.py sits there)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bria_pipeline.cli.pipeline_options import SandboxTime
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import ManualClock, create_app


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


def driven_cli_time() -> SandboxTime:
    """The clocks of `--sandbox` in a CLI run in process: a ManualClock starting at the wall time's
    now (a child process on the same .bria/sandbox.sqlite, on wall time, finds nothing from its
    future), and a client whose waits advance it."""
    manual = ManualClock(start=time.time())
    return SandboxTime(sandbox=manual, client=DrivenClock(manual))


@pytest.fixture
def sandbox_clock() -> ManualClock:
    """The sandbox's time: it moves only when the pipelines' clients wait."""
    return ManualClock(time.time())


@pytest.fixture
def sandbox_app(tmp_path: Path, sandbox_clock: ManualClock) -> Iterator[Any]:
    """The real sandbox in process, on `sandbox_clock`, its trainings 0.3 s of that clock."""
    app = create_app(tmp_path / "sandbox.sqlite", clock=sandbox_clock, training_seconds=0.3)
    yield app
    app.state.sandbox.close()
