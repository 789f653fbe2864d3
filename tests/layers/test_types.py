"""The whole package type-checks with the project's own mypy configuration ([tool.mypy] in
pyproject.toml: plan/, apply/, state/, api/ and commands/ in strict mode): 0 errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def test_the_package_type_checks_with_the_project_configuration() -> None:
    checked = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", "/dev/null"],
                             cwd=REPO, capture_output=True, text=True, timeout=280)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found" in checked.stdout, checked.stdout
