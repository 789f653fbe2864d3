"""The apply lock in the backend, and a backend that fails mid-apply, with real processes: a
served sandbox, moto's S3 server, `bria-pipeline apply` as a subprocess (killed with SIGKILL in
one test)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from backend_helpers import apply_process as start_apply, checkout, sandbox_stats, sent
from backend_helpers import wait_for as wait_until

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.backend import Backend
from bria_pipeline.sandbox.context import Timings
from bria_pipeline.state.commit import MAX_SEGMENTS
from bria_pipeline.state.errors import LockHeldError
from bria_pipeline.state.working_copy import read_committed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
TOKEN = "lock-token"
TRAINING = "POST /v1/tailored-gen/models/{model_id}/start_training"
CREATE_MODEL = "POST /v1/tailored-gen/models"
RUN_TIMEOUT = 60.0


def apply_process(spec: Path, url: str, backend: str, env: dict, *extra: str) -> subprocess.Popen:
    return start_apply(spec, url, backend, env, *extra, token=TOKEN)


def wait_for(condition, what: str, timeout: float = RUN_TIMEOUT) -> None:
    wait_until(condition, what, timeout)


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


def test_two_checkouts_applying_at_once_train_once(tmp_path: Path, served, s3_url: str):
    url, _app = served
    before = sandbox_stats(url)
    spec_a, spec_b, spec_c = checkout(tmp_path, "a"), checkout(tmp_path, "b"), checkout(tmp_path, "c")
    with ThreadPoolExecutor(2) as pool:  # two runners, each its own event loop and client
        first = pool.submit(lambda: Pipeline(spec_a, api_url=url, token=TOKEN, backend=s3_url).apply(auto_approve=True))
        wait_for(lambda: lock_holder(spec_b, s3_url) is not None or first.done(), "the first run's lock")
        holder = lock_holder(spec_b, s3_url)
        assert holder is not None, first.result()
        planned = Pipeline(spec_b, api_url=url, token=TOKEN, backend=s3_url)
        planned.plan()  # plan takes no lock: it reads while the first run holds it
        assert 1 <= planned.backend_requests <= 1 + MAX_SEGMENTS  # the root and its segments, never one per output
        with pytest.raises(LockHeldError) as refused:
            Pipeline(spec_b, api_url=url, token=TOKEN, backend=s3_url).apply(auto_approve=True)
        assert "another run holds the state" in refused.value.message
        assert f"lock id {holder['id']}" in refused.value.message and holder["host"] in refused.value.message
        assert "--lock-timeout" in refused.value.hint
        waiting = pool.submit(lambda: Pipeline(spec_c, api_url=url, token=TOKEN, backend=s3_url,
                                               lock_timeout=120).apply(auto_approve=True))
        assert first.result(timeout=RUN_TIMEOUT).ok
        late = waiting.result(timeout=RUN_TIMEOUT)
    assert late.ok and late.requests["mutating"] == 0  # it waited, then read what the first run pushed
    routes = sent(before, sandbox_stats(url))
    assert routes[TRAINING] == 1 and routes[CREATE_MODEL] == 1
    assert len(_models(url)) == 1


def test_a_killed_holder_elsewhere_leaves_a_stale_lock_that_only_force_unlock_releases(tmp_path: Path, served,
                                                                                      s3_url: str, s3_env: dict):
    url, _app = served
    spec = checkout(tmp_path, "runner")
    killed = apply_process(spec, url, s3_url, {**s3_env, "BRIA_PIPELINE_LOCK_REFRESH": "0.2"})
    start = sandbox_stats(url)["total"]
    try:
        wait_for(lambda: sandbox_stats(url)["total"] - start >= 15 and lock_holder(spec, s3_url) is not None
                 and _pushed_projects(spec, s3_url) == ["lucy-example"],
                 "the run's lock, its first requests and its first push of state")
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.kill()
        killed.communicate()
    holder = lock_holder(spec, s3_url)
    assert holder["pid"] == killed.pid and holder["command"] == "apply"
    # the runner was another machine (a lock of this machine's own dead process is replaced at
    # once: test_store_suite.py); its lock object says so
    backend = Backend.for_spec(spec, s3_url)
    blob = backend.store.read(backend.lock_key)
    holder = {**json.loads(blob.data), "host": "ci-runner-7", "machine": "another-machine"}
    backend.store.write(backend.lock_key, json.dumps(holder).encode(), expect=blob.version)

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
    # the runner is gone with its disk: another checkout goes on from what the backend holds
    assert _pushed_projects(spec, s3_url) == ["lucy-example"]  # pushed mid-run
    spec = checkout(tmp_path, "next-runner")
    result = Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url, concurrency=10).apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    routes = sent({"routes": {}}, sandbox_stats(url))
    assert routes[TRAINING] == 1 and routes[CREATE_MODEL] == 1 and len(_models(url)) == 1
    assert routes["POST /v2/image/generate/tailored"] == 9 and routes["POST /v2/video/generate/tailored/image-to-video"] == 1
    assert lock_holder(spec, s3_url) is None


def _pushed_projects(spec: Path, s3_url: str) -> list[str]:
    """The project records of the state the backend holds for `spec` (none before the first push)."""
    state = read_committed(Backend.for_spec(spec, s3_url)).state
    if state is None:
        return []
    return [r["name"] for r in state["records"] if r["kind"] == "project"]


def test_a_backend_lost_mid_apply_loses_nothing_and_the_next_apply_converges(tmp_path: Path, served, s3_server,
                                                                            s3_url: str, monkeypatch):
    url, _app = served
    monkeypatch.setenv("BRIA_PIPELINE_LOCK_REFRESH", "0.2")
    spec = checkout(tmp_path, "runner")
    start = sandbox_stats(url)["total"]
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(lambda: Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url, concurrency=10)
                          .apply(auto_approve=True))
        try:
            wait_for(lambda: sandbox_stats(url)["total"] - start >= 30 or run.done(), "the run's uploads")
            s3_server.stop()
            result = run.result(timeout=RUN_TIMEOUT)
        finally:
            s3_server.start()
    failed = {s.address: s.message for s in result.by_status("failed")}
    assert set(failed) <= {"backend", "backend.lock"} and "backend" in failed, failed
    assert "cannot access" in failed["backend"] and "next apply pushes them" in failed["backend"]
    assert "testing-secret" not in " ".join(failed.values())
    outputs = spec.parent / "outputs"
    assert len(list((outputs / "places").glob("*.png"))) == 8  # every paid output is kept locally
    holder = lock_holder(spec, s3_url)
    if holder is not None:  # its release failed with the backend: released by hand, as the run said
        assert f"force-unlock {spec} {holder['id']}" in failed["backend.lock"]
        assert CliRunner().invoke(main, ["force-unlock", str(spec), holder["id"], "--backend", s3_url]).exit_code == 0
    before = sandbox_stats(url)
    result = Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url).apply(auto_approve=True)
    assert result.ok and result.requests["mutating"] == 0
    assert sent(before, sandbox_stats(url)).get("POST /v2/image/generate/tailored") is None
    fresh = Pipeline(checkout(tmp_path, "fresh", lock_from=spec.parent / "spec.lock.yaml"), api_url=url, token=TOKEN,
                     backend=s3_url).plan()
    assert not fresh.has_changes, [(a.address, a.reason) for a in fresh.changes]


def test_a_state_written_behind_a_runs_back_is_never_overwritten(tmp_path: Path, served):
    url, _app = served
    spec = checkout(tmp_path, "runner")
    backend_url = (tmp_path / "backend").as_uri()
    assert Pipeline(spec, api_url=url, token=TOKEN, backend=backend_url).apply(auto_approve=True).ok
    backend = Backend.for_spec(spec, backend_url)
    spec.write_text(spec.read_text(encoding="utf-8").replace("seeds: [1, 2]", "seeds: [1, 2, 3]"), encoding="utf-8")

    def meanwhile(plan):  # another writer (a forced lock, a hand edit) changes the state while this run works
        root = backend.store.read(backend.root_key)
        backend.store.write(backend.root_key, root.data.replace(b'"records"', b'"other":1,"records"'),
                            expect=root.version)
        return True

    result = Pipeline(spec, api_url=url, token=TOKEN, backend=backend_url).apply(on_plan=meanwhile)
    failed = {s.address: s.message for s in result.by_status("failed")}
    assert list(failed) == ["backend"] and "committed to since this run read it: it was not overwritten" in failed["backend"]
    assert b'"other":1' in backend.store.read(backend.root_key).data
    assert len(list((spec.parent / "outputs" / "places").glob("*-seed3.png"))) == 4  # this run's outputs kept locally


def test_a_runner_lost_while_generating_costs_nothing_twice(tmp_path: Path, served, s3_url: str, s3_env: dict):
    """The request ids of accepted generations reach the backend within a second: a runner killed
    while they run leaves them there, and the next runner (another checkout) polls the same jobs."""
    url, app = served
    app.state.sandbox.timings = Timings(training_seconds=0.2, generation_seconds=1.0, video_seconds=0.1,
                                        caption_min_seconds=0.05)
    spec = checkout(tmp_path, "lost-runner")
    proc = apply_process(spec, url, s3_url, {**s3_env, "BRIA_PIPELINE_LOCK_REFRESH": "0.2"}, "--concurrency", "10")
    backend = Backend.for_spec(spec, s3_url)

    def request_ids_pushed() -> int:
        outputs = read_committed(backend).view.outputs
        return sum(1 for o in outputs.values() if o["status"] == "pending" and o["request_id"])

    try:
        wait_for(lambda: request_ids_pushed() >= 8 or proc.poll() is not None, "the accepted generations in the backend")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL  # killed with 8 accepted generations running
    images = "POST /v2/image/generate/tailored"
    paid = sandbox_stats(url)["routes"][images]
    holder = lock_holder(spec, s3_url)
    Pipeline(spec, backend=s3_url).force_unlock(holder["id"])
    nxt = checkout(tmp_path, "next-runner", lock_from=spec.parent / "spec.lock.yaml")
    result = Pipeline(nxt, api_url=url, token=TOKEN, backend=s3_url, concurrency=10).apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    assert sandbox_stats(url)["routes"][images] == max(paid, 9)  # the portrait, if it was not sent yet; nothing twice
    assert len([o for o in Pipeline(nxt, backend=s3_url).outputs() if o["status"] == "done"]) == 10
