"""Settings for the whole suite: user-level caches go to a temporary directory, not ~/.cache, and
the suite runs the same on a laptop and on a CI runner: variables that change what bria-pipeline
does (CI, BRIA_PIPELINE_*, the API's URL and token) are not inherited; the tests that need one set it."""

from __future__ import annotations

import os

import pytest


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
