"""Settings for the whole suite: user-level caches go to a temporary directory, not ~/.cache, and
the suite runs the same on a laptop and on a CI runner: variables that change what bria-pipeline
does (CI, BRIA_PIPELINE_*, the API's URL and token) are not inherited; the tests that need one set it."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

WORKERS_PER_CORE = 2  # about a third of the suite's time is waiting (servers, child processes, polls)
MAX_WORKERS = 8


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many worker processes `-n auto` (pyproject's addopts) starts. The whole suite, or a
    folder of it: two per core, at most eight. Named files or tests only (`pytest tests/x/test_y.py`):
    none, the run stays in this process and starts at once. PYTEST_XDIST_AUTO_NUM_WORKERS sets it."""
    given = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if given:
        return int(given)
    named = config.args_source == pytest.Config.ArgsSource.ARGS and all(
        "::" in arg or Path(arg).is_file() for arg in config.args)
    if named:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, WORKERS_PER_CORE * cores)


@pytest.fixture(autouse=True, scope="session")
def _user_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """BRIA_PIPELINE_CACHE_DIR for every test and the processes they start (the file-facts cache)."""
    before = os.environ.get("BRIA_PIPELINE_CACHE_DIR")
    os.environ["BRIA_PIPELINE_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if before is None:
        os.environ.pop("BRIA_PIPELINE_CACHE_DIR", None)
    else:
        os.environ["BRIA_PIPELINE_CACHE_DIR"] = before


INHERITED = ("CI", "BRIA_API_URL", "BRIA_BASE_URL", "BRIA_API_TOKEN")


@pytest.fixture(autouse=True, scope="session")
def _no_inherited_settings():
    """CI=true makes plan and apply warn that state will not outlive the runner (a note the
    scenario tests would see); a BRIA_PIPELINE_BACKEND on a developer's machine would send every
    test's state to it. Removed for the session and the processes it starts, put back after."""
    names = [n for n in os.environ if n in INHERITED or (n.startswith("BRIA_PIPELINE_") and n != "BRIA_PIPELINE_CACHE_DIR")]
    saved = {n: os.environ.pop(n) for n in names}
    yield
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def driven_sandbox_time(request: pytest.FixtureRequest):
    """The CLI run in process with --sandbox (click's runner, the docs' examples) waits on the
    sandbox's ManualClock, one per test: a training, a poll or a rate limit takes no wall time. A
    test about wall time is marked `wall_clock`. Its clocks: the fixture's value (None with the mark)."""
    if request.node.get_closest_marker("wall_clock"):
        yield None
        return
    from sandbox_time import driven_cli_time

    from bria_pipeline.cli.pipeline_options import sandbox_time

    clocks = driven_cli_time()
    with sandbox_time(clocks):
        yield clocks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wall_clock: the CLI run in process with --sandbox runs on wall time "
                                       "(the test is about real time: heartbeats, progress, timeouts)")
    config.addinivalue_line("markers", "slow: a file of tests taking tens of seconds in all; a parallel run "
                                       "starts it first")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a parallel run (one file per worker at a time, in this order: pyproject's
    --no-loadscope-reorder), files with a test marked `slow` go first, then the others by how many
    tests they hold, most first: the run does not end waiting on one long file started last.
    A run in process keeps the files' own order."""
    if not hasattr(config, "workerinput"):
        return
    per_file = Counter(item.path for item in items)
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path not in slow, -per_file[item.path]))  # stable: a file's tests stay in order
