"""The backend suite, the same for each of the three stores (moto's S3, Azurite, fake-gcs-server,
each reached through a relay that can refuse or hang; stores.py): CI runs from fresh checkouts,
racing applies, stale locks, a store that goes down, a store that hangs, a misspelled bucket.
Real processes: a served sandbox, `bria-pipeline apply` as a subprocess where a run must die or
hang as a runner would."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from backend_helpers import apply_process as start_apply
from backend_helpers import billed, checkout, files_of, sandbox_stats, sent, subprocess_env, wait_for
from stores import use_cloud

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.errors import LockHeldError, StateError
from bria_pipeline.state.objects import ObjectStoreError
from bria_pipeline.state.remote_lock import RemoteLock

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
TOKEN = "suite-token"
TRAINING = "POST /v1/tailored-gen/models/{model_id}/start_training"
CREATE_MODEL = "POST /v1/tailored-gen/models"
RUN_SECONDS = 90.0


def apply_process(spec: Path, api: str, backend: str, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return start_apply(spec, api, backend, env, *extra, token=TOKEN)


def state_pushed(spec: Path, url: str) -> bool:
    """The run has written something besides its lock (whatever the backend's layout)."""
    backend = Backend.for_spec(spec, url)
    return any(not key.endswith("/lock.json") for key in backend.store.list(backend.key + "/"))


def apply(spec: Path, api: str, url: str, **kw):
    return Pipeline(spec, api_url=api, token=TOKEN, backend=url, concurrency=10, **kw).apply(auto_approve=True)


def test_ci_runs_from_fresh_checkouts_pay_once(tmp_path: Path, served, cloud):
    api, _app = served
    first = checkout(tmp_path, "run1")
    result = apply(first, api, cloud.url)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    made = files_of(first.parent / "outputs")
    for run in ("run2", "run3"):
        spec = checkout(tmp_path, run, lock_from=first.parent / "spec.lock.yaml")
        before = sandbox_stats(api)
        plan = Pipeline(spec, api_url=api, token=TOKEN, backend=cloud.url).plan()
        assert not plan.has_changes, [(a.address, a.reason) for a in plan.changes]
        result = apply(spec, api, cloud.url)
        routes = sent(before, sandbox_stats(api))
        assert result.ok and result.requests["mutating"] == 0 and billed(routes) == 0, routes
    pulled = CliRunner().invoke(main, ["pull", str(spec), "--backend", cloud.url])
    assert pulled.exit_code == 0 and "Pulled 10 output(s)" in pulled.output, pulled.output
    assert files_of(spec.parent / "outputs") == made


def test_racing_applies_train_once(tmp_path: Path, served, cloud):
    api, _app = served
    specs = [checkout(tmp_path, name) for name in ("a", "b")]
    start = threading.Barrier(2)

    def race(spec: Path):
        start.wait(timeout=30)
        try:
            return apply(spec, api, cloud.url)
        except LockHeldError as refused:
            return refused

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(race, specs))
    won = [o for o in outcomes if not isinstance(o, LockHeldError)]
    assert won and all(o.ok for o in won), outcomes
    assert all("another run holds the state" in o.message for o in outcomes if isinstance(o, LockHeldError))
    routes = sent({"routes": {}}, sandbox_stats(api))
    assert routes[TRAINING] == 1 and routes[CREATE_MODEL] == 1


TAKE_AND_DIE = """
import os, sys
from pathlib import Path
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.remote_lock import RemoteLock
lock = RemoteLock(Backend.for_spec(Path(sys.argv[1]), sys.argv[2]), command="apply", spec=sys.argv[1])
lock.acquire()
print(lock.id, flush=True)
os._exit(0)  # gone without releasing it, as a killed run is
"""


def test_a_lock_left_by_a_dead_process_of_this_machine_is_replaced_at_once(tmp_path: Path, served, cloud):
    api, _app = served
    spec = checkout(tmp_path, "laptop")
    dead = subprocess.run([sys.executable, "-c", TAKE_AND_DIE, str(spec), cloud.url], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert dead.returncode == 0, dead.stderr
    backend = Backend.for_spec(spec, cloud.url)
    assert json.loads(backend.store.read(backend.lock_key).data)["id"] == dead.stdout.strip()
    started = time.monotonic()
    lock = RemoteLock(backend, command="apply", spec=str(spec))
    lock.acquire()
    waited = time.monotonic() - started
    lock.release()
    assert lock.replaced is not None and lock.replaced["id"] == dead.stdout.strip() and waited < 5
    assert apply(spec, api, cloud.url).ok


def test_a_stale_lock_of_another_machine_is_reported_and_force_unlock_releases_it(tmp_path: Path, served, cloud):
    api, _app = served
    spec = checkout(tmp_path, "runner")
    backend = Backend.for_spec(spec, cloud.url)
    gone = {"id": "0badc0ffee00", "user": "ci", "host": "runner-7", "machine": "another-machine", "pid": 4242,
            "command": "apply", "started_at": "2026-01-01T00:00:00+00:00",
            "refreshed_at": "2026-01-01T00:00:00+00:00", "refresh_seconds": 30}
    backend.store.write(backend.lock_key, json.dumps(gone).encode())
    with pytest.raises(LockHeldError) as refused:
        apply(spec, api, cloud.url)
    assert "stale" in refused.value.message and "runner-7" in refused.value.message
    assert f"force-unlock {spec} 0badc0ffee00" in refused.value.hint
    released = CliRunner().invoke(main, ["force-unlock", str(spec), "0badc0ffee00", "--backend", cloud.url])
    assert released.exit_code == 0, released.output
    assert apply(spec, api, cloud.url).ok and backend.store.read(backend.lock_key) is None


def test_a_store_down_mid_apply_loses_nothing_and_the_next_apply_pays_nothing(tmp_path: Path, served, cloud):
    api, _app = served
    spec = checkout(tmp_path, "runner")
    run = apply_process(spec, api, cloud.url, {**cloud.env, "BRIA_PIPELINE_LOCK_REFRESH": "0.2"}, "--concurrency", "10")
    try:
        wait_for(lambda: state_pushed(spec, cloud.url) or run.poll() is not None, "the run's first push", RUN_SECONDS)
        cloud.store.door.down()
        out, err = run.communicate(timeout=RUN_SECONDS)
    finally:
        run.kill()
        cloud.store.door.reset()
    assert run.returncode == 1, out + err
    assert "cannot access" in out + err and "testing-secret" not in out + err
    paid = sandbox_stats(api)
    result = apply(spec, api, cloud.url)  # its lock, left by a process now gone, is replaced at once
    assert result.ok and result.requests["mutating"] == 0
    assert billed(sent(paid, sandbox_stats(api))) == 0
    fresh = checkout(tmp_path, "fresh", lock_from=spec.parent / "spec.lock.yaml")
    assert not Pipeline(fresh, api_url=api, token=TOKEN, backend=cloud.url).plan().has_changes


HANG_TIMEOUT = 1.5  # the store's and the API's request limit; an answer from either on 127.0.0.1 takes far less
GRACE = 8.0  # the run's own work still in flight when the store stops answering, and process exit


def test_a_hanging_store_fails_the_run_within_its_timeout_and_the_next_run_pays_nothing(tmp_path: Path, served,
                                                                                       cloud):
    api, _app = served
    spec = checkout(tmp_path, "runner")
    env = {**cloud.env, "BRIA_PIPELINE_LOCK_REFRESH": "0.2"}
    run = apply_process(spec, api, cloud.url, env, "--concurrency", "10", "--timeout", f"{HANG_TIMEOUT:g}s")
    try:
        wait_for(lambda: state_pushed(spec, cloud.url) or run.poll() is not None, "the run's first push", RUN_SECONDS)
        cloud.store.door.hang()
        hung = time.monotonic()
        out, err = run.communicate(timeout=RUN_SECONDS)
        took = time.monotonic() - hung
        # a plan against the hanging store: refused within the timeout, nothing sent to the API
        before = sandbox_stats(api)["total"]
        started = time.monotonic()
        plan = subprocess.run([sys.executable, "-m", "bria_pipeline", "--api-url", api, "plan", str(spec),
                               "--backend", cloud.url, "--timeout", f"{HANG_TIMEOUT:g}s"],
                              env=subprocess_env({**env, "BRIA_API_TOKEN": TOKEN}), capture_output=True, text=True,
                              timeout=RUN_SECONDS)
        plan_took = time.monotonic() - started
    finally:
        run.kill()
        cloud.store.door.reset()
    assert run.returncode == 1 and took < HANG_TIMEOUT + GRACE, (took, out, err)
    assert f"did not answer within {HANG_TIMEOUT:g} s" in out + err
    assert plan.returncode == 1 and plan_took < HANG_TIMEOUT + GRACE, (plan_took, plan.stdout, plan.stderr)
    assert f"did not answer within {HANG_TIMEOUT:g} s" in plan.stdout + plan.stderr
    assert sandbox_stats(api)["total"] == before  # the backend is read first: nothing sent to the API
    paid = sandbox_stats(api)
    result = apply(spec, api, cloud.url)
    assert result.ok and result.requests["mutating"] == 0 and billed(sent(paid, sandbox_stats(api))) == 0
    fresh = checkout(tmp_path, "fresh", lock_from=spec.parent / "spec.lock.yaml")
    assert not Pipeline(fresh, api_url=api, token=TOKEN, backend=cloud.url).plan().has_changes


def test_a_misspelled_bucket_is_an_error_at_plan_time(tmp_path: Path, served, cloud):
    api, _app = served
    spec = checkout(tmp_path, "typo")
    typo = f"{cloud.kind}://{cloud.url.split('/')[2]}-typo/bria"
    before = sandbox_stats(api)
    with pytest.raises(ObjectStoreError) as refused:
        Pipeline(spec, api_url=api, token=TOKEN, backend=typo).plan()
    assert "-typo does not exist" in refused.value.message
    assert sandbox_stats(api)["mutating"] == before["mutating"]
    planned = CliRunner().invoke(main, ["--api-url", api, "plan", str(spec), "--backend", typo],
                                 env={"BRIA_API_TOKEN": TOKEN})
    assert planned.exit_code == 1 and "Plan:" not in planned.output and "does not exist" in planned.output


@pytest.mark.parametrize("kind", ["s3"])
def test_a_backend_restored_from_an_older_copy_is_refused_and_the_hint_keeps_what_was_paid(tmp_path: Path, served,
                                                                                        kind: str, request):
    """S3 only for now: its ETag is the content's MD5, so objects restored byte for byte keep their
    versions; Azure and GCS give a restored object a new version, which the state.json +
    manifest.json layout reads as a torn push (the commit by one root object removes that)."""
    cloud = use_cloud(kind, request)
    api, _app = served
    spec = checkout(tmp_path, "laptop")
    assert apply(spec, api, cloud.url).ok
    backend = Backend.for_spec(spec, cloud.url)
    backup = {key: backend.store.read(key).data for key in backend.store.list(backend.key + "/")}
    spec.write_text(spec.read_text(encoding="utf-8").replace("seeds: [1, 2]", "seeds: [1, 2, 3]"), encoding="utf-8")
    assert apply(spec, api, cloud.url).ok  # 4 more images, paid
    backend.store.delete_many(sorted(set(backend.store.list(backend.key + "/")) - set(backup)))
    for key, data in backup.items():  # the bucket restored from the copy made before
        backend.store.write(key, data)
    paid = sandbox_stats(api)
    with pytest.raises(StateError) as refused:
        Pipeline(spec, api_url=api, token=TOKEN, backend=cloud.url).plan()
    assert "is behind this working copy" in refused.value.message and "4 paid output(s)" in refused.value.message
    hint = refused.value.hint.split(": ", 1)[1].split("   (")[0]
    assert hint == f"bria-pipeline state push {spec} --backend {cloud.url}"
    pushed = CliRunner().invoke(main, hint.split()[1:])
    assert pushed.exit_code == 0, pushed.output
    result = apply(spec, api, cloud.url)
    assert result.ok and result.requests["mutating"] == 0 and billed(sent(paid, sandbox_stats(api))) == 0
    fresh = checkout(tmp_path, "fresh", lock_from=spec.parent / "spec.lock.yaml")
    fresh.write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")
    assert not Pipeline(fresh, api_url=api, token=TOKEN, backend=cloud.url).plan().has_changes
