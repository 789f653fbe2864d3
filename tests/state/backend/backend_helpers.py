"""What the backend tests share: the S3 server, fresh checkouts, sandbox request counts."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from example_spec import copy_example

STARTUP_SECONDS = 15.0


def _atomic_conditional_writes(app):
    """S3 carries out a conditional write (If-Match / If-None-Match) atomically; moto checks the
    condition, then writes, with no lock between, so two concurrent swaps of one ETag can both
    win. Conditional requests are served one at a time, as S3 serves them."""
    lock = threading.Lock()

    def serve(environ, start_response):
        if "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ:
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return serve


def _moto_server_class():
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, ThreadedMotoServer, create_backend_app
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # as moto's, the app wrapped
            app = _atomic_conditional_writes(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicMotoServer


class S3Server:
    """moto's S3 in server mode, in a thread, conditional writes atomic as S3's (see
    `_atomic_conditional_writes`); `stop()` and `start()` again on the same port keep its buckets
    (they live in this process)."""

    def __init__(self) -> None:
        self._cls = _moto_server_class()
        self.port = 0
        self.server = None

    def start(self) -> None:
        self.server = self._cls(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                httpx.get(self.endpoint, timeout=1.0)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not answer on {self.endpoint} within {STARTUP_SECONDS} s")
                time.sleep(0.05)

    def stop(self) -> None:
        """Down as a crashed server is: connections refused (the listening socket closed too)."""
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()
            self.server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bucket(self) -> str:
        name = f"bria-{secrets.token_hex(4)}"
        answer = httpx.put(f"{self.endpoint}/{name}", timeout=5.0)
        answer.raise_for_status()
        return name




def checkout(root: Path, name: str, lock_from: Path | None = None) -> Path:
    """A fresh clone of the repository's examples/lucy: no .bria/, no outputs."""
    where = root / name / "lucy"
    copy_example(where)
    if lock_from is not None:  # committed after the first run
        shutil.copy(lock_from, where / "spec.lock.yaml")
    return where / "spec.yaml"


def files_of(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.journal"}


def sandbox_stats(url: str) -> dict:
    return httpx.get(f"{url}/_sandbox/stats", timeout=5.0).json()


BILLED = ("POST /v2/image/generate/tailored", "POST /v2/structured_prompt/generate/tailored",
          "POST /v2/video/generate/tailored/image-to-video", "POST /v1/tailored-gen/models/{model_id}/start_training")


def sent(before: dict, after: dict) -> dict[str, int]:
    """Requests per route between two stats snapshots."""
    return {k: n - before["routes"].get(k, 0) for k, n in after["routes"].items() if n - before["routes"].get(k, 0)}


def billed(routes: dict[str, int]) -> int:
    return sum(n for k, n in routes.items() if k in BILLED)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    repo = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(extra or {})
    return env


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def apply_process(spec: Path, url: str, backend: str, env: dict, *extra: str, token: str) -> subprocess.Popen:
    """`bria-pipeline apply SPEC --auto-approve --backend BACKEND` as a runner would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "bria_pipeline", "--api-url", url, "apply", str(spec), "--auto-approve",
         "--backend", backend, *extra],
        env=subprocess_env({**env, "BRIA_API_TOKEN": token}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=spec.parent, text=True)
