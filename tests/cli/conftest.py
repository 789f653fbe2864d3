"""Fixtures of the CLI tests: no token from the developer's environment, a folder of specs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without BRIA_API_TOKEN, BRIA_API_URL and NO_COLOR, as a new user would."""
    for name in ("BRIA_API_TOKEN", "BRIA_API_URL", "BRIA_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def specs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "specs"
    root.mkdir()
    return root
