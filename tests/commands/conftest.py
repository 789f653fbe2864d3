"""Fixtures of the commands/ tests: the example spec on disk, the real sandbox in process on a
driven clock (no wall time passes while a training runs), pipelines on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from commands_helpers import write_spec

from sandbox_time import DrivenPipeline, sandbox_app, sandbox_clock  # noqa: F401  (fixtures, found by name)

from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import ManualClock


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "lucy")


@pytest.fixture
def make_pipeline(sandbox_app: Any, sandbox_clock: ManualClock, spec: Path) -> Iterator[Callable[..., Pipeline]]:
    """`make_pipeline(**kw)`: a Pipeline for `spec` (or `path`) on the in-process sandbox, closed after the test."""
    made: list[Pipeline] = []

    def make(path: Path | None = None, **kw: Any) -> Pipeline:
        pipeline = DrivenPipeline(path or spec, sandbox_clock, sandbox=True,
                                  transport=httpx.ASGITransport(app=sandbox_app), **kw)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()
