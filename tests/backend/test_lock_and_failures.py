"""The apply lock in the backend, and a backend that fails mid-apply, with real processes: a
served sandbox, moto's S3 server, `bria-pipeline apply` as a subprocess (killed with SIGKILL in
one test)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import sandbox_stats, sent, subprocess_env
from test_ci_runs import checkout

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.errors import LockHeldError

pytestmark = pytest.mark.timeout(180)
TOKEN = "lock-token"
TRAINING = "POST /v1/tailored-gen/models/{model_id}/start_training"
CREATE_MODEL = "POST /v1/tailored-gen/models"
RUN_TIMEOUT = 60.0


def apply_process(spec: Path, url: str, backend: str, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bria_pipeline", "--api-url", url, "apply", str(spec), "--auto-approve",
         "--backend", backend, *extra],
        env=subprocess_env({**env, "BRIA_API_TOKEN": TOKEN}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=spec.parent, text=True)


def wait_for(condition, what: str, timeout: float = RUN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def lock_holder(spec: Path, backend: str) -> dict | None:
    blob = Backend.for_spec(spec, backend).store.read(Backend.for_spec(spec, backend).lock_key)
    return json.loads(blob.data) if blob is not None else None


def _models(url: str) -> list[dict]:
    """Every model of the organisation, read with a plain client."""

    async def read() -> list[dict]:
        async with AsyncBriaClient(url, TOKEN) as client:
            out = []
            for project in await client.list_projects():
                out += [{"name": m.name, "status": m.status} for m in await client.list_project_models(project.id)]
            return out

    return asyncio.run(read())


def test_two_checkouts_applying_at_once_train_once(tmp_path: Path, served, s3_url: str, s3_env: dict):
    url, _app = served
    before = sandbox_stats(url)
    first = apply_process(checkout(tmp_path, "a"), url, s3_url, s3_env)
    spec_b, spec_c = checkout(tmp_path, "b"), checkout(tmp_path, "c")
    try:
        wait_for(lambda: lock_holder(spec_b, s3_url) is not None or first.poll() is not None, "the first run's lock")
        holder = lock_holder(spec_b, s3_url)
        assert holder is not None, first.communicate()
        refused = apply_process(spec_b, url, s3_url, s3_env)
        _, err = refused.communicate(timeout=RUN_TIMEOUT)
        assert refused.returncode == 1
        assert "another run holds the state" in err and f"lock id {holder['id']}" in err and holder["host"] in err
        waiting = apply_process(spec_c, url, s3_url, s3_env, "--lock-timeout", "2m")
        out_a, err_a = first.communicate(timeout=RUN_TIMEOUT)
        assert first.returncode == 0, err_a[-2000:]
        out_c, err_c = waiting.communicate(timeout=RUN_TIMEOUT)
        assert waiting.returncode == 0, err_c[-2000:]
        assert ", 0 mutating" in out_c  # it waited, then read what the first run pushed (pins only: no lock file)
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    routes = sent(before, sandbox_stats(url))
    assert routes[TRAINING] == 1 and routes[CREATE_MODEL] == 1
    assert len(_models(url)) == 1


def test_a_killed_holder_leaves_a_stale_lock_that_only_force_unlock_releases(tmp_path: Path, served, s3_url: str,
                                                                             s3_env: dict):
    url, _app = served
    spec = checkout(tmp_path, "runner")
    killed = apply_process(spec, url, s3_url, {**s3_env, "BRIA_PIPELINE_LOCK_REFRESH": "0.2"})
    start = sandbox_stats(url)["total"]
    try:
        wait_for(lambda: sandbox_stats(url)["total"] - start >= 15 and lock_holder(spec, s3_url) is not None,
                 "the run's lock and its first requests")
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.kill()
        killed.communicate()
    holder = lock_holder(spec, s3_url)
    assert holder["pid"] == killed.pid and holder["command"] == "apply"

    def stale_reported() -> bool:
        try:
            Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url).apply(auto_approve=True)
        except LockHeldError as exc:
            stale_reported.error = exc  # type: ignore[attr-defined]
            return "stale" in exc.message
        raise AssertionError("an apply ran although a lock was held")

    wait_for(stale_reported, "the lock going stale", timeout=10)
    error = stale_reported.error  # type: ignore[attr-defined]
    assert f"lock id {holder['id']}" in error.message and f"pid {killed.pid}" in error.message
    assert f"force-unlock {spec} {holder['id']}" in error.hint
    assert lock_holder(spec, s3_url)["id"] == holder["id"]  # reported, never taken over

    wrong = CliRunner().invoke(main, ["force-unlock", str(spec), "000000000000", "--backend", s3_url])
    assert wrong.exit_code == 1 and lock_holder(spec, s3_url) is not None
    released = CliRunner().invoke(main, ["force-unlock", str(spec), holder["id"], "--backend", s3_url])
    assert released.exit_code == 0, released.output
    result = Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url, concurrency=10).apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    routes = sent({"routes": {}}, sandbox_stats(url))
    assert routes[TRAINING] == 1 and routes[CREATE_MODEL] == 1 and len(_models(url)) == 1
    assert routes["POST /v2/image/generate/tailored"] == 9 and routes["POST /v2/video/generate/tailored/image-to-video"] == 1
    assert lock_holder(spec, s3_url) is None


def test_a_backend_lost_mid_apply_loses_nothing_and_the_next_apply_converges(tmp_path: Path, served, s3_server,
                                                                            s3_url: str, s3_env: dict):
    url, _app = served
    spec = checkout(tmp_path, "runner")
    proc = apply_process(spec, url, s3_url, {**s3_env, "BRIA_PIPELINE_LOCK_REFRESH": "0.2"}, "--concurrency", "10")
    start = sandbox_stats(url)["total"]
    try:
        wait_for(lambda: sandbox_stats(url)["total"] - start >= 30 or proc.poll() is not None, "the run's uploads")
        s3_server.stop()
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        s3_server.start()
    assert proc.returncode == 1
    assert "FAILED backend" in err and "cannot access" in err and "next apply pushes them" in err, err[-3000:]
    assert "Traceback" not in err and "testing-secret" not in err + out
    outputs = spec.parent / "outputs"
    assert len(list((outputs / "places").glob("*.png"))) == 8  # every paid output is kept locally
    holder = lock_holder(spec, s3_url)
    if holder is not None:  # its release failed with the backend: released by hand, as the run said
        assert f"force-unlock {spec} {holder['id']}" in err
        assert CliRunner().invoke(main, ["force-unlock", str(spec), holder["id"], "--backend", s3_url]).exit_code == 0
    before = sandbox_stats(url)
    result = Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url).apply(auto_approve=True)
    assert result.ok and result.requests["mutating"] == 0
    assert sent(before, sandbox_stats(url)).get("POST /v2/image/generate/tailored") is None
    fresh = Pipeline(checkout(tmp_path, "fresh", lock_from=spec.parent / "spec.lock.yaml"), api_url=url, token=TOKEN,
                     backend=s3_url).plan()
    assert not fresh.has_changes, [(a.address, a.reason) for a in fresh.changes]
