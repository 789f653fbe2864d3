"""Settings for the whole suite: user-level caches go to a temporary directory, not ~/.cache."""

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
