"""Safe by default off a terminal, and one meaning for the API root however it is given.

- `apply` / `destroy` with something to change, no --auto-approve and no terminal on stdin
  (CI, a pipe, </dev/null) refuse before sending anything mutating;
- BRIA_API_URL means exactly what --api-url means (polling pace, sandbox staging);
- a step that cannot run against the API (sandbox staging against a remote API) is refused with
  the plan, before anything is created.

The CLI runs as a child process against sandboxes served on 127.0.0.1, which count requests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from apply_helpers import SpecDir, sandbox_stats

from bria_pipeline.pipeline import Pipeline
from bria_pipeline.plan.errors import PlanError
from bria_pipeline.sandbox import create_app, running

pytestmark = pytest.mark.timeout(120)
CLI = [sys.executable, "-m", "bria_pipeline"]
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as CI runs it: stdin from /dev/null, stdout and stderr piped, a token in the environment."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("BRIA_API_URL", "BRIA_BASE_URL", "BRIA_PIPELINE_"))}
    full.update({"BRIA_API_TOKEN": "ci-organisation", "PYTHONPATH": str(REPO)}, **(env or {}))
    return subprocess.run(CLI + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=90)


def stats(url: str) -> dict:
    return httpx.get(f"{url}/_sandbox/stats", timeout=10).json()


def advanced(spec_dir: SpecDir, **kw) -> Path:
    """The test spec with its dataset bulk-uploaded through the sandbox's staging area."""
    spec = spec_dir.write(**kw)
    spec.write_text(spec.read_text().replace("    images:\n", "    upload_type: advanced\n    staging: {kind: sandbox}\n"
                                                              "    images:\n", 1))
    return spec


def test_apply_off_a_terminal_without_auto_approve_refuses_before_sending_anything(spec_dir: SpecDir) -> None:
    spec = spec_dir.write(models=False, complete=False)
    app = create_app(None)
    with running(app) as url:
        refused = cli("apply", str(spec), "--api-url", url)
        assert refused.returncode == 1, refused.stderr
        assert "Plan: " in refused.stdout  # the plan is shown, so the user sees what needs a yes
        assert ": not on a terminal: apply needs --auto-approve to change anything" in refused.stderr
        assert "hint: review the plan above, then run again with --auto-approve" in refused.stderr
        assert stats(url)["mutating"] == 0

        saved = spec_dir.root / "plan.json"
        assert cli("plan", str(spec), "--api-url", url, "--out", str(saved)).returncode == 0
        applied = cli("apply", str(saved), "--api-url", url)  # a saved plan is the approval
        assert applied.returncode == 0, applied.stderr
        made = stats(url)["mutating"]
        assert made > 0

        again = cli("apply", str(spec), "--api-url", url)  # nothing to change: nothing to approve
        assert again.returncode == 0 and "No changes" in again.stdout, again.stderr

        destroyed = cli("destroy", str(spec), "--api-url", url)
        assert destroyed.returncode == 1
        assert "not on a terminal: destroy needs --auto-approve" in destroyed.stderr
        assert stats(url)["mutating"] == made  # nothing deleted


def _timed_apply(spec_dir: SpecDir, how: str) -> tuple[float, dict, subprocess.CompletedProcess[str]]:
    spec = advanced(spec_dir, steps=200)
    app = create_app(None, training_seconds=1.0)
    with running(app) as url:
        args = ["apply", str(spec), "--auto-approve"]
        started = time.monotonic()
        done = cli(*args, "--api-url", url) if how == "option" else cli(*args, env={"BRIA_API_URL": url})
        return time.monotonic() - started, stats(url), done


def test_bria_api_url_means_exactly_what_api_url_means(tmp_path: Path) -> None:
    by_option = _timed_apply(SpecDir(tmp_path / "option"), "option")
    by_env = _timed_apply(SpecDir(tmp_path / "env"), "env")
    for seconds, counted, done in (by_option, by_env):
        assert done.returncode == 0, done.stderr
        assert "staging" not in done.stderr and "Apply complete" in done.stdout
    (t1, s1, _), (t2, s2, _) = by_option, by_env
    mutating = {route: n for route, n in s1["routes"].items() if not route.startswith("GET")}
    assert mutating == {route: n for route, n in s2["routes"].items() if not route.startswith("GET")}
    assert set(s1["routes"]) == set(s2["routes"])  # the same reads too; polls may differ by one or two
    assert max(t1, t2) <= 2 * min(t1, t2), (t1, t2)
    assert max(t1, t2) < 30  # the sandbox's pace (a 1 s training), not the real API's 30 s first poll


def test_a_step_that_cannot_run_against_this_api_is_refused_with_the_plan(spec_dir: SpecDir) -> None:
    spec = advanced(spec_dir, models=False)
    app = create_app(None)
    try:
        def pipeline() -> Pipeline:  # a remote API root (reached in process: no network)
            return Pipeline(spec, api_url="https://engine.example.com", token="t", transport=httpx.ASGITransport(app=app))

        with pytest.raises(PlanError) as planned:
            pipeline().plan()
        assert "dataset.lucy.images cannot run against https://engine.example.com" in str(planned.value)
        assert "sandbox works only against the sandbox" in str(planned.value)
        with pytest.raises(PlanError):
            pipeline().apply(auto_approve=True)
        counted = sandbox_stats(app)
        assert counted["mutating"] == 0 and counted["total"] > 0  # observed, then refused: nothing created
    finally:
        app.state.sandbox.close()


def test_a_staging_uploader_that_is_not_installed_is_refused_with_the_plan(spec_dir: SpecDir) -> None:
    spec = spec_dir.write(models=False)
    staging = ("    upload_type: advanced\n    staging:\n      kind: url_template\n"
               "      url_template: https://files.example.com/{name}\n"
               "      upload_command: [no-such-uploader-3f9a, '{file}', '{name}']\n    images:\n")
    spec.write_text(spec.read_text().replace("    images:\n", staging, 1))
    app = create_app(None)
    try:
        with pytest.raises(PlanError) as refused:
            Pipeline(spec, sandbox=True, transport=httpx.ASGITransport(app=app)).apply(auto_approve=True)
        assert "dataset.lucy.images cannot run: the staging upload_command 'no-such-uploader-3f9a' is not found" \
            in str(refused.value)
        assert sandbox_stats(app)["mutating"] == 0
        uploader = spec_dir.root / "upload.sh"  # a path is taken relative to the spec, as the command runs
        uploader.write_text("#!/bin/sh\nexit 0\n")
        uploader.chmod(0o755)
        spec.write_text(spec.read_text().replace("no-such-uploader-3f9a", "./upload.sh"))
        assert Pipeline(spec, sandbox=True, transport=httpx.ASGITransport(app=app)).plan().has_changes
    finally:
        app.state.sandbox.close()
