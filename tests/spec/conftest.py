"""Fixtures for spec tests: a project directory with real images, and the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spec_helpers import Project, png_bytes


@pytest.fixture(scope="session")
def image_bytes() -> list[bytes]:
    """Twelve distinct 1024x1024 PNGs, made once per test session."""
    return [png_bytes(shade=i) for i in range(1, 13)]


@pytest.fixture
def project(tmp_path: Path, image_bytes: list[bytes]) -> Project:
    """tmp_path/proj with images/01.png .. 06.png; write a spec with project.spec(...)."""
    proj = Project(tmp_path / "proj", image_bytes)
    for i in range(6):
        proj.image(f"images/{i + 1:02d}.png", image_bytes[i])
    return proj


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
