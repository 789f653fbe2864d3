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


@pytest.fixture
def served(tmp_path: Path):
    """A sandbox served on 127.0.0.1 (its database in tmp_path): its URL."""
    from bria_pipeline.sandbox import create_app
    from bria_pipeline.sandbox.server import running

    app = create_app(tmp_path / "served.sqlite", training_seconds=0.1)
    try:
        with running(app) as url:
            yield url
    finally:
        app.state.sandbox.close()
