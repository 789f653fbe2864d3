"""Fixtures of the apply tests: a spec directory, the real sandbox in process, pipelines on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from apply_helpers import SpecDir

from outputs_fixtures import build, fast_world, still_world  # noqa: F401  (fixtures, found by name)
from sandbox_time import DrivenPipeline, sandbox_app, sandbox_clock  # noqa: F401  (fixtures, found by name)

from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import ManualClock


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "crash: SIGKILLs a real apply at many points and resumes it (about a minute)")


@pytest.fixture
def spec_dir(tmp_path: Path) -> SpecDir:
    return SpecDir(tmp_path / "brand")


@pytest.fixture
def make_pipeline(sandbox_app, sandbox_clock: ManualClock, spec_dir: SpecDir):
    """`make_pipeline(**kw)`: a Pipeline for the spec, talking to the in-process sandbox."""
    made: list[Pipeline] = []

    def make(**kw: Any) -> Pipeline:
        pipeline = DrivenPipeline(spec_dir.spec, sandbox_clock, sandbox=True, transport=httpx.ASGITransport(app=sandbox_app), **kw)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()
