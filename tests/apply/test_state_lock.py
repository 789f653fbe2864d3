"""One apply per state: a second one fails fast naming the holder, or waits with --lock-timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bria_pipeline.state.errors import LockHeldError
from bria_pipeline.state.lock import StateLock

pytestmark = pytest.mark.timeout(60)

HOLDER = """
import sys, time
from pathlib import Path
from bria_pipeline.state.lock import StateLock
with StateLock(Path(sys.argv[1]), command="apply spec.yaml"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(state_dir, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(state_dir), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_apply_fails_fast_naming_the_holder(spec_dir, make_pipeline):
    spec_dir.write(models=False)
    pipeline = make_pipeline()
    holder = _hold(pipeline.state_dir, 30)
    try:
        started = time.monotonic()
        with pytest.raises(LockHeldError) as info:
            pipeline.apply(auto_approve=True)
        assert time.monotonic() - started < 5
        message = info.value.describe()
        assert f"pid {holder.pid}" in message and "running `apply spec.yaml` since" in message
        assert "--lock-timeout" in message
    finally:
        holder.kill()
        holder.wait()


def test_lock_timeout_waits_for_the_holder_to_finish(spec_dir, make_pipeline):
    spec_dir.write(models=False, complete=False)
    pipeline = make_pipeline(lock_timeout=20)
    holder = _hold(pipeline.state_dir, 1.0)
    try:
        started = time.monotonic()
        assert pipeline.apply(auto_approve=True).ok
        assert time.monotonic() - started >= 0.5
    finally:
        holder.wait(timeout=10)


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    holder = _hold(tmp_path, 30)
    holder.kill()
    holder.wait()
    with StateLock(tmp_path, command="apply") as lock:
        assert lock.holder()["pid"] == os.getpid()
    assert not (tmp_path / "apply.lock.json").exists()
