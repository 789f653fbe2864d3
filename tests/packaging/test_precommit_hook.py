"""The pre-commit hook, as a repository adopting it runs it: `pre-commit try-repo` on this checkout.

pre-commit builds the hook's own environment from this repository (offline: see offline_env) and
runs it on a repository holding a spec, a broken spec and an OpenAPI document whose name also
says "spec".
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from offline_env import REPO, offline_env

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pre_commit") is None, reason="pre-commit is not installed"),
    pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a git checkout"),
    pytest.mark.timeout(240),
]

OPENAPI = "openapi: 3.0.3\ninfo: {title: Orders, version: '1.0'}\npaths: {}\n"
BROKEN = "version: 1\nproject:\n  name: mira\n  ip_tpye: other\n  ip_medium: photography\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_the_hook_checks_only_specs_and_writes_nothing_into_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "specs-repo"
    shutil.copytree(REPO / "examples" / "lucy", repo / "brands" / "lucy",
                    ignore=shutil.ignore_patterns(".bria", "outputs", "spec.lock.yaml"))
    (repo / "api").mkdir()
    (repo / "api" / "openapi-spec.yaml").write_text(OPENAPI, encoding="utf-8")
    (repo / "brands" / "mira").mkdir()
    (repo / "brands" / "mira" / "spec.yaml").write_text(BROKEN, encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    tracked = git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all")

    env = offline_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
                      BRIA_PIPELINE_CACHE_DIR=str(tmp_path / "user-cache"))
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "bria-pipeline-validate", "--all-files", "--verbose"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=200,
    )
    out = done.stdout + done.stderr
    if "Installing environment" not in out:
        pytest.fail(out)
    assert done.returncode == 1, out  # the broken spec
    assert "skipped api/openapi-spec.yaml: not a bria-pipeline spec" in out
    assert "OK: 1 dataset, 10 images, 1 model, 10 outputs (brands/lucy/spec.yaml)" in out
    assert "brands/mira/spec.yaml:4:3: project.ip_tpye: unknown key 'ip_tpye'" in out
    assert "FAILED: 2 errors (brands/mira/spec.yaml)" in out
    assert "openapi-spec.yaml:" not in out.replace("skipped api/openapi-spec.yaml:", "")  # no error about it
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == tracked  # nothing new
    assert list((tmp_path / "user-cache" / "filefacts").iterdir())  # the cache went to the user's directory
