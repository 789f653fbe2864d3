"""Serving the sandbox with uvicorn: `serve()` blocks; `running()` runs it in a background thread.

    with running(create_app()) as base_url:   # e.g. "http://127.0.0.1:54321"
        httpx.get(base_url + "/_sandbox/health")
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette

from bria_pipeline.sandbox.app import create_app


class PortUnavailable(OSError):
    """The address to serve on cannot be bound (in use, not this machine's, not allowed)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or PortUnavailable saying why and what to do: bound
    before anything is printed, so a busy port fails at once and clearly."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it every small response waits on Nagle + delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        reason = "is already in use (another sandbox or server listens there)" \
            if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc.strerror or exc}"
        raise PortUnavailable(exc.errno or 0, f"{shown}:{port} {reason}; choose another with --port "
                                              "(--port 0 picks a free one)") from None
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, db: str | os.PathLike | None = None, *,
          log_level: str = "warning", sock: socket.socket | None = None, log_config: Any = uvicorn.config.LOGGING_CONFIG,
          **app_options: Any) -> None:
    """Serve a new sandbox app until interrupted (app_options go to create_app). `sock`: an
    already bound socket (from `bind`); else host:port is bound here (PortUnavailable if busy)."""
    app = create_app(db, **app_options)
    sock = sock or bind(host, port)
    config = uvicorn.Config(app, log_level=log_level, http="h11", lifespan="off", log_config=log_config)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def running(app: Starlette, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0,
            log_level: str = "warning") -> Iterator[str]:
    """Run `app` under uvicorn in a daemon thread; yields its base URL; stops it on exit."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, http="h11", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="bria-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the sandbox did not start on {host}:{bound_port}")
        time.sleep(0.01)
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def silent(host: str = "127.0.0.1") -> Iterator[str]:
    """An API that never answers: a server on a free port that accepts connections and holds them
    without a byte in reply (a hung gateway). Yields its base URL; closes everything on exit."""
    listener = bind(host, 0)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, name="bria-silent-api", daemon=True)
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()
