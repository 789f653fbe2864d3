"""A run killed right after any one of its backend writes leaves a backend every later run can
read, and a fresh checkout goes on from it paying only for the answers that were in flight.

A small proxy in front of moto's S3 server counts the writes (PUT, POST, DELETE) of one
`bria-pipeline apply` process and SIGKILLs it right after write k has reached the store. A first
apply of examples/lucy makes a few dozen writes: the suite kills at a spread of them (the first,
the last, and evenly between); ``BRIA_KILL_EVERY_WRITE=1`` kills at every one of them (about
4 minutes).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from backend_helpers import checkout, sandbox_stats, subprocess_env

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import create_app, running
from bria_pipeline.sandbox.context import Timings
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.remote_lock import RemoteLock
from bria_pipeline.state.working_copy import read_committed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TOKEN = "kill-token"
GENERATIONS = ("POST /v2/image/generate/tailored", "POST /v2/structured_prompt/generate/tailored",
               "POST /v2/video/generate/tailored/image-to-video")
TRAINING = "POST /v1/tailored-gen/models/{model_id}/start_training"
RUN_TIMEOUT = 120
WRITES = ("PUT", "POST", "DELETE")
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "trailer"}


class KillingProxy:
    """Forwards every request to `upstream`; the `kill_after`-th write of the run it watches is
    forwarded, answered by the store, and then the run is killed (the answer never reaches it)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.victim: int | None = None
        self.kill_after = 0  # 0: never
        self.writes = 0
        self.killed_at: str | None = None
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                if self.command in WRITES:
                    proxy.wrote(f"{self.command} {self.path}")
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a killed client resets its connections
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wrote(self, what: str) -> None:
        with self._lock:
            self.writes += 1
            if self.victim is not None and self.writes == self.kill_after:
                self.killed_at = what
                os.kill(self.victim, signal.SIGKILL)

    def watch(self, pid: int, kill_after: int) -> None:
        with self._lock:
            self.victim, self.kill_after, self.writes, self.killed_at = pid, kill_after, 0, None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> KillingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fast_sandbox(folder: Path):
    """A sandbox of its own (nothing of another kill's run in it), served on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(folder / "sandbox.sqlite", training_seconds=0.2)
    app.state.sandbox.timings = Timings(training_seconds=0.2, generation_seconds=0.05, video_seconds=0.1,
                                        caption_min_seconds=0.05)
    with running(app) as url:
        yield url
    app.state.sandbox.close()


def generations(stats: dict) -> int:
    return sum(stats["routes"].get(k, 0) for k in GENERATIONS)


def run_killed(spec: Path, url: str, backend: str, env: dict, proxy: KillingProxy, kill_after: int) -> int:
    """`bria-pipeline apply` through the proxy, killed after its write `kill_after` (0: never).
    Returns how many writes it made."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bria_pipeline", "--api-url", url, "apply", str(spec), "--auto-approve",
         "--backend", backend, "--concurrency", "10"],
        env=subprocess_env({**env, "AWS_ENDPOINT_URL": proxy.endpoint, "BRIA_API_TOKEN": TOKEN}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=spec.parent, text=True)
    proxy.watch(proc.pid, kill_after)
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        proc.kill()
    if kill_after == 0 or proxy.killed_at is None:
        assert proc.returncode == 0, err[-2000:]
    else:
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, err[-2000:])
    return proxy.writes


def kill_and_recover(root: Path, s3_url: str, env: dict, proxy: KillingProxy, k: int,
                     needed: int) -> tuple[str | None, int]:
    """Kill a first apply after write k; then a fresh checkout applies (rc 0) and pays only for the
    generations whose answers had not reached the backend when the run was killed."""
    with fast_sandbox(root / f"sandbox-{k}") as url:
        spec = checkout(root, f"killed-{k}")
        backend_url = f"{s3_url}-{k}"
        run_killed(spec, url, backend_url, env, proxy, k)
        killed_at = proxy.killed_at
        paid_at_kill = generations(sandbox_stats(url))
        backend = Backend.for_spec(spec, backend_url)
        snap = read_committed(backend)  # readable at its last commit, whatever the instant
        recorded = sum(r.get("billed", 0) for r in [*snap.view.outputs.values(), *snap.view.prompts.values()])
        in_flight = paid_at_kill - recorded  # answered, billed, not committed yet
        assert in_flight >= 0, (k, killed_at, paid_at_kill, recorded)
        holder = RemoteLock(backend, command="test", spec=str(spec)).holder()
        if holder is not None:
            Pipeline(spec, backend=backend_url).force_unlock(holder["id"])
        fresh = checkout(root, f"fresh-{k}")
        applied = CliRunner().invoke(main, ["--api-url", url, "apply", str(fresh), "--auto-approve",
                                            "--backend", backend_url, "--concurrency", "10"],
                                     env={"BRIA_API_TOKEN": TOKEN})
        assert applied.exit_code == 0, (k, killed_at, applied.output[-3000:])
        stats = sandbox_stats(url)
        assert generations(stats) == needed + in_flight, (k, killed_at, paid_at_kill, recorded, stats["routes"])
        assert stats["routes"][TRAINING] == 1, (k, killed_at)
        done = [r for r in read_committed(backend).view.outputs.values() if r["status"] == "done"]
        assert len(done) == 10, (k, killed_at)
        return killed_at, recorded


def kill_points(total: int) -> list[int]:
    if os.environ.get("BRIA_KILL_EVERY_WRITE"):
        return list(range(1, total + 1))
    return sorted({1, 2, 3, total // 4, total // 2, 3 * total // 4, total - 1, total} - {0})


def test_a_run_killed_after_any_backend_write_leaves_a_readable_backend_and_pays_nothing_twice(
        tmp_path: Path, s3_server, s3_url: str, s3_env: dict):
    with KillingProxy(s3_server.endpoint) as proxy:
        with fast_sandbox(tmp_path / "sandbox-whole") as url:  # the whole run, not killed: how many writes
            spec = checkout(tmp_path, "whole")
            total = run_killed(spec, url, f"{s3_url}-whole", s3_env, proxy, 0)
            needed = generations(sandbox_stats(url))
        assert total >= 10 and needed >= 11  # 9 images, 1 video, the structured prompts
        killed = {}
        for k in kill_points(total):
            killed[k] = kill_and_recover(tmp_path, s3_url, s3_env, proxy, k, needed)
    assert sum(1 for at, _ in killed.values() if at) >= len(killed) - 2, killed  # the run's writes vary a little
    assert any(at and "root.json" in at for at, _ in killed.values()), killed  # killed right after a commit, too
    assert any(recorded for at, recorded in killed.values() if at), killed  # billed answers committed mid-run
