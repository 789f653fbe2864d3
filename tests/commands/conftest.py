"""Fixtures of the commands/ tests: the example spec on disk, the real sandbox in process on a
driven clock (no wall time passes while a training runs), pipelines on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from commands_helpers import write_spec

from sandbox_time import DrivenPipeline

from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import ManualClock, create_app


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "lucy")


@pytest.fixture
def sandbox_clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def sandbox_app(tmp_path: Path, sandbox_clock: ManualClock) -> Iterator[Any]:
    app = create_app(tmp_path / "sandbox.sqlite", clock=sandbox_clock, training_seconds=0.3)
    yield app
    app.state.sandbox.close()


@pytest.fixture
def make_pipeline(sandbox_app: Any, sandbox_clock: ManualClock, spec: Path) -> Callable[..., Pipeline]:
    """`make_pipeline(**kw)`: a Pipeline for `spec` (or `path`) on the in-process sandbox."""

    def make(path: Path | None = None, **kw: Any) -> Pipeline:
        return DrivenPipeline(path or spec, sandbox_clock, sandbox=True,
                              transport=httpx.ASGITransport(app=sandbox_app), **kw)

    return make
