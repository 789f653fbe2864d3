"""Kill a real `bria-pipeline apply` with SIGKILL at many points, apply again, compare.

A served sandbox (uvicorn on 127.0.0.1) counts requests; the apply runs as a subprocess and is
killed the moment the sandbox has seen k requests, for k spread over a whole uninterrupted run.
The next apply must converge to the same remote state as the uninterrupted run: the same single
project, dataset, images, captions, visual schema, model and training, nothing twice.

Each kill point gets its own organisation (its own API token) so points do not see each other;
three workers, each with its own served sandbox, share the points. The suite kills at a dozen
points spread over the run (the first request, the last few, evenly between);
``BRIA_KILL_EVERY_REQUEST=1`` kills at every request of it (a few minutes).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from apply_helpers import SpecDir, dump, remote_snapshot

from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import FaultPlan, create_app, running

pytestmark = [pytest.mark.crash, pytest.mark.slow, pytest.mark.timeout(420)]

WORKERS = 3
MIN_POINTS = 8
RUN_TIMEOUT = 90.0


@dataclass
class Point:
    k: int  # kill once the sandbox has seen this many requests of the run
    killed_at: int | None = None  # how many it had seen when the kill landed (None: finished first)
    snapshot: dict | None = None
    error: str | None = None


def _total(http: httpx.Client, base_url: str) -> int:
    return http.get(f"{base_url}/_sandbox/stats").json()["total"]


def _apply_process(spec: Path, base_url: str, token: str) -> subprocess.Popen:
    env = {**os.environ, "BRIA_API_TOKEN": token, "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bria_pipeline", "--api-url", base_url, "apply", str(spec), "--auto-approve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=spec.parent,
    )


def _run_to_completion(spec: Path, base_url: str, token: str) -> None:
    proc = _apply_process(spec, base_url, token)
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, err.decode()[-2000:]


def _fresh_copy(template: Path, where: Path) -> Path:
    shutil.copytree(template, where, ignore=shutil.ignore_patterns(".bria", "*.lock.yaml"))
    return where / "spec.yaml"


def _kill_at(point: Point, spec: Path, base_url: str, token: str, http: httpx.Client) -> None:
    start = _total(http, base_url)
    proc = _apply_process(spec, base_url, token)
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while proc.poll() is None:
            seen = _total(http, base_url) - start
            if seen >= point.k:
                os.kill(proc.pid, signal.SIGKILL)
                point.killed_at = seen
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the apply killed at k={point.k} did not reach it in {RUN_TIMEOUT} s")
            time.sleep(0.002)
    finally:
        if proc.poll() is None and point.killed_at is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def _resume(spec: Path, base_url: str, token: str) -> None:
    pipeline = Pipeline(spec, api_url=base_url, token=token)
    result = pipeline.apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    again = Pipeline(spec, api_url=base_url, token=token).plan()
    assert not again.has_changes, [(a.address, a.kind, a.reason) for a in again.changes]


def kill_points(total: int) -> list[int]:
    """k from 1 to a few requests short of the end (a run's length varies by a poll or two)."""
    last = total - 3
    if os.environ.get("BRIA_KILL_EVERY_REQUEST"):
        return list(range(1, last + 1))
    return sorted({max(1, round(1 + i * (last - 1) / (MIN_POINTS + 3))) for i in range(MIN_POINTS + 4)})


def test_apply_killed_at_any_point_converges_without_duplicates(tmp_path: Path):
    template = SpecDir(tmp_path / "template")
    template.write(images=10, steps=200)
    faults = FaultPlan(latency_ms=15)
    apps = [create_app(tmp_path / f"sandbox-{n}.sqlite", training_seconds=0.4, faults=faults) for n in range(WORKERS)]
    with running(apps[0]) as url0, running(apps[1]) as url1, running(apps[2]) as url2, httpx.Client(timeout=10) as http:
        urls = [url0, url1, url2]
        # the uninterrupted run
        baseline_spec = _fresh_copy(template.root, tmp_path / "baseline")
        start = _total(http, urls[0])
        _run_to_completion(baseline_spec, urls[0], "baseline")
        total = _total(http, urls[0]) - start
        baseline = remote_snapshot(urls[0], "baseline")
        assert len(baseline["datasets"]) == 1 and len(baseline["models"]) == 1
        assert baseline["models"][0]["status"] == "Completed"

        ks = kill_points(total)
        assert len(ks) >= MIN_POINTS, f"a run of {total} requests gives only {len(ks)} kill points"
        points = [Point(k) for k in ks]
        lock = threading.Lock()

        def work(worker: int) -> None:
            url = urls[worker]
            with httpx.Client(timeout=10) as own:
                for n, point in enumerate(points):
                    if n % WORKERS != worker:
                        continue
                    token = f"kill-{point.k}"
                    spec = _fresh_copy(template.root, tmp_path / f"k{point.k}")
                    try:
                        _kill_at(point, spec, url, token, own)
                        _resume(spec, url, token)
                        point.snapshot = remote_snapshot(url, token)
                    except AssertionError as exc:
                        with lock:
                            point.error = str(exc)[:3000]

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(work, range(WORKERS)))

    errors = [f"k={p.k}: {p.error}" for p in points if p.error]
    assert not errors, "\n".join(errors)
    killed = [p for p in points if p.killed_at is not None]
    assert len(killed) >= MIN_POINTS, f"only {len(killed)} of {len(points)} runs were killed before they finished"
    for point in points:
        assert point.snapshot == baseline, f"k={point.k} (killed at {point.killed_at}) differs:\n{dump(point.snapshot)}\nvs\n{dump(baseline)}"
    positions = sorted({p.killed_at for p in killed})
    assert len(positions) >= MIN_POINTS // 2, f"the kills landed at too few distinct points: {positions}"
    print(f"\n{len(killed)} kills over a run of {total} requests, at request counts {[p.killed_at for p in killed]}")
