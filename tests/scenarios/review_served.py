"""`bria-pipeline review serve SPEC` run as a person runs it (a child process), for browser tests."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def review_server(spec: Path, *extra: str, timeout: float = 30) -> Iterator[str]:
    """Start the server on a free port; yields its URL (printed on its first line); stops it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bria_pipeline", "review", "serve", str(spec), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
            if not ready or proc.poll() is not None and not ready:
                raise AssertionError(f"the server printed no address: {proc.stderr.read().decode() if proc.poll() is not None else ''}")
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                raise AssertionError(f"the server stopped: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            line += chunk
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line.decode())
        assert found, line
        url = found.group(1)
        _wait_listening(url, deadline)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_listening(url: str, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answers at {url}")
