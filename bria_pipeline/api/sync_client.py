"""A blocking twin of AsyncBriaClient for simple commands and scripts.

    with BriaClient() as bria:
        for project in bria.list_projects():
            print(project.name)

The async client runs on an event loop in a thread of its own (httpx.ASGITransport, the
in-process sandbox, is async-only); every method of AsyncBriaClient is available here with the
same signature, blocking until done.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.api.stats import RequestStats

_PUBLIC_COROUTINES = frozenset(
    name
    for name, member in inspect.getmembers(AsyncBriaClient, inspect.iscoroutinefunction)
    if not name.startswith("_") and name not in ("aclose",)
)


class BriaClient:
    """Takes the same arguments as AsyncBriaClient."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bria-client", daemon=True)
        self._thread.start()
        try:
            self._client: AsyncBriaClient = self._run(self._make(args, kwargs))
        except BaseException:
            self._stop()
            raise

    @staticmethod
    async def _make(args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncBriaClient:
        return AsyncBriaClient(*args, **kwargs)

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _PUBLIC_COROUTINES:
            raise AttributeError(name)
        method = getattr(self._client, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._run(method(*args, **kwargs))

        blocking.__name__ = name
        blocking.__doc__ = method.__doc__
        return blocking

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | _PUBLIC_COROUTINES)

    @property
    def stats(self) -> RequestStats:
        return self._client.stats

    @property
    def api_url(self) -> str:
        return self._client.api_url

    def __repr__(self) -> str:
        return f"BriaClient(api_url={self._client.api_url!r}, token={self._client.config.token!r})"

    def close(self) -> None:
        if not self._loop.is_closed():
            try:
                self._run(self._client.aclose())
            finally:
                self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> BriaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
