"""The sandbox in process, persisted in one SQLite file, handed to a client as its transport.

    with LocalSandbox(".bria/sandbox.sqlite") as sandbox:
        Pipeline("spec.yaml", sandbox=True, transport=sandbox.transport()).apply(auto_approve=True)

What `--sandbox` runs against. The app (and its database) is made on the first request, so a
command that stops before sending anything (an invalid spec) leaves no database behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from bria_pipeline.sandbox.app import create_app


class LocalSandbox:
    """One in-process sandbox; `options` are `create_app`'s (clock, faults, training_seconds, ...)."""

    def __init__(self, db: str | os.PathLike[str] | None, **options: Any) -> None:
        self.db = Path(db) if db is not None else None
        self.options = options
        self._app: Starlette | None = None

    @property
    def app(self) -> Starlette:
        if self._app is None:
            if self.db is not None:
                self.db.parent.mkdir(parents=True, exist_ok=True)
            self._app = create_app(self.db, **self.options)
        return self._app

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport to it for one client (any number may share the sandbox)."""
        return _FirstUseTransport(self)

    def close(self) -> None:
        if self._app is not None:
            self._app.state.sandbox.close()
            self._app = None

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _FirstUseTransport(httpx.AsyncBaseTransport):
    """httpx.ASGITransport to the sandbox's app, made when the first request is sent."""

    def __init__(self, sandbox: LocalSandbox) -> None:
        self._sandbox = sandbox

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await httpx.ASGITransport(app=self._sandbox.app).handle_async_request(request)
