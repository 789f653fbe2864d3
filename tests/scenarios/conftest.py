"""Fixtures of the scenario tests: examples/lucy applied once per session, copied for each test.

Each test starts from a copy of the applied example (spec directory, lock file, .bria/, outputs and
the sandbox database), so a scenario pays only for the weeks it walks through.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from scenario_helpers import Team


@pytest.fixture(scope="session")
def applied_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("applied-lucy")
    team = Team.fresh(root)
    try:
        team.apply(auto_approve=True)
    finally:
        team.close()
    return root


@pytest.fixture
def team(applied_example: Path, tmp_path: Path):
    """A team whose examples/lucy was applied to completion: trained, outputs generated."""
    root = tmp_path / "team"
    shutil.copytree(applied_example, root)
    made = Team(root)
    yield made
    made.close()


@pytest.fixture
def new_team(tmp_path: Path):
    """A team with a fresh copy of examples/lucy and an empty organisation."""
    made = Team.fresh(tmp_path / "team")
    yield made
    made.close()
