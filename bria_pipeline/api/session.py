"""How one operation is carried out: auth, pacing, bounded concurrency, retries, read-back.

Every request of the client goes through `ApiSession.call` (operations of the table) or
`ApiSession.fetch` (URLs the server handed out). The rules, in one place:

- The token header is attached only to requests whose origin (scheme, host, port) is the API's.
  URLs elsewhere go through a separate HTTP client that never knew the token.
- Idempotent operations are retried on 429, 5xx, timeouts and dropped connections.
- A failure that proves nothing was sent (connection refused, a 429) is retried for any operation.
- A non-idempotent POST that failed ambiguously (5xx, timeout, connection lost mid-request) is not
  sent again blindly: its finder (readback.py) reads the server's state. If the server did act,
  its resource is adopted and returned as if the answer had arrived; if it provably did not, the
  request is sent again; if nothing can tell, AmbiguousResult is raised.
- A 403 "Quota exceeded" halts the session: no further request leaves.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json as jsonlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx

from bria_pipeline import __version__
from bria_pipeline.api import errors as E
from bria_pipeline.api.clock import Clock, SystemClock
from bria_pipeline.api.config import ClientConfig, Origin
from bria_pipeline.api.operations import FETCH_URL, Operation
from bria_pipeline.api.pacing import RateLimiter
from bria_pipeline.api.retry import RetryPolicy, parse_retry_after
from bria_pipeline.api.stats import ApiEvent, EventHandler, RequestStats

log = logging.getLogger("bria_pipeline.api")

TOKEN_HEADER = "api_token"
MAX_REDIRECTS = 5
MAX_ERROR_TEXT = 500

# Raised before a single byte of the request left: safe to send again, whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Answers of a gateway in front of the API (Bad Gateway, Gateway Timeout, Cloudflare's 52x): the
# API's own answer was lost, so the request's effect is unknown. A 500 or 503 is the API's own
# word that the request failed, and for a request without a read-back (a generation) it is
# taken at its word: nothing was done, nothing may have been paid.
GATEWAY_STATUSES = frozenset({502, 504, 520, 521, 522, 523, 524, 525, 526, 527})


@dataclass(frozen=True)
class Call:
    """One invocation of an operation, as the finders see it."""

    op: Operation
    path_params: Mapping[str, Any]
    body: Any
    params: Mapping[str, Any] | None


class ReadbackOutcome(Protocol):
    """What a finder tells (api/readback.py's `Outcome` is the one implementation)."""

    @property
    def found(self) -> bool: ...
    @property
    def absent(self) -> bool: ...
    @property
    def body(self) -> Any: ...  # the adopted resource, as JSON
    @property
    def reason(self) -> str: ...
    @property
    def candidates(self) -> tuple[Any, ...]: ...


# How a creating call whose outcome is unknown is read back (api/readback.py has them all).
Finder = Callable[["ApiSession", Call], Awaitable[ReadbackOutcome]]


@dataclass
class _Budget:
    """Seconds the call being carried out may still spend waiting on the API: its sends and the
    backoff between them. Pacing and the pauses a 429 asks for are not counted: they are waiting
    for a turn, not on an API that does not answer."""

    left: float


_CALL_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("bria_call_budget", default=None)


class _Ambiguous(Exception):
    """Internal: a non-idempotent request failed without telling whether the server acted."""

    def __init__(self, error: E.ApiError) -> None:
        self.error = error


class ApiSession:
    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        external_transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        on_event: EventHandler | None = None,
        rng: random.Random | None = None,
        call_timeout: float | None = None,
        finders: Mapping[str, Finder] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise E.ConfigError("max_concurrency must be at least 1")
        self.config = config
        self.timeout = timeout
        self.set_call_timeout(call_timeout)
        self.retry = retry or RetryPolicy()
        self.clock = clock or SystemClock()
        self.limiter = limiter or RateLimiter(None, clock=self.clock)
        self.stats = RequestStats()
        self.on_event = on_event
        self._rng = rng or random.Random()
        self._origin = config.origin
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._halted: E.QuotaExceeded | None = None
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        headers = {"user-agent": f"bria-pipeline/{__version__}"}
        self._api = httpx.AsyncClient(
            base_url=config.api_url,
            transport=transport,
            timeout=timeout,
            limits=limits,
            headers=headers,
            follow_redirects=False,
        )
        # URLs off the API's origin: a client that never sees the token, made on first use
        self._external_options = functools.partial(httpx.AsyncClient, transport=external_transport,
                                                   timeout=timeout, headers=headers, follow_redirects=False)
        self._external_client: httpx.AsyncClient | None = None
        # finder name -> async callable(session, Call) -> readback.Outcome (the client's: readback.FINDERS)
        self.finders: Mapping[str, Finder] = dict(finders or {})

    def set_call_timeout(self, call_timeout: float | None) -> None:
        """Seconds one call may take in all, retries and their pauses included (None: the retry
        policy's max_elapsed and the per-request timeout bound it)."""
        if call_timeout is not None and not call_timeout > 0:
            raise E.ConfigError(f"call_timeout must be a positive number of seconds, not {call_timeout!r}")
        self.call_timeout = call_timeout

    async def aclose(self) -> None:
        await self._api.aclose()
        if self._external_client is not None:
            await self._external_client.aclose()

    @property
    def _external(self) -> httpx.AsyncClient:
        if self._external_client is None:
            self._external_client = self._external_options()
        return self._external_client

    # ------------------------------------------------------------------ helpers

    def redact(self, text: str) -> str:
        return self.config.token.redact(text)

    def is_api_url(self, url: str) -> bool:
        return Origin.of(url) == self._origin

    def absolute(self, url: str) -> str:
        """A server-given URL made absolute against the API root (relative ones are the API's)."""
        return urljoin(self.config.api_url + "/", url)

    def emit(self, event: ApiEvent) -> None:
        """Report an event (to the log at DEBUG and to `on_event`)."""
        self._emit(event)

    def _emit(self, event: ApiEvent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", event.describe())
        if self.on_event is not None:
            self.on_event(event)

    # ------------------------------------------------------------------ operations

    async def call(
        self,
        op: Operation,
        path_params: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Carry out `op`; returns the answer's JSON (None for an empty answer)."""
        call = Call(op, dict(path_params or {}), json, params)
        path = op.render(call.path_params)

        async def once(attempt: int) -> Any:
            return self._decode(op, path, await self._send(op, path, attempt, json=json, params=params))

        return await self._retrying(op, path, once, call)

    async def _retrying(
        self, op: Operation, path: str, once: Callable[[int], Awaitable[Any]], call: Call | None = None
    ) -> Any:
        """Run `once(attempt)` until it succeeds, a definite error comes, or the policy says stop.

        With `call_timeout`, the call (its read-backs included) spends at most that long waiting
        on the API, sends and backoff together: each send's own timeout is cut to what is left,
        and no retry starts once it is used up."""
        started = self.clock.monotonic()
        if _CALL_BUDGET.get() is not None or self.call_timeout is None:
            return await self._attempts(op, path, once, call, started)
        token = _CALL_BUDGET.set(_Budget(self.call_timeout))
        try:
            return await self._attempts(op, path, once, call, started)
        finally:
            _CALL_BUDGET.reset(token)

    async def _attempts(self, op: Operation, path: str, once: Callable[[int], Awaitable[Any]], call: Call | None,
                        started: float) -> Any:
        budget = _CALL_BUDGET.get()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await once(attempt)
            except _Ambiguous as amb:
                assert call is not None
                outcome = await self._resolve(call, path, attempt, amb.error)
                if outcome is not None:
                    return outcome.body
                failure: E.ApiError = amb.error  # nothing was created: a retry is safe
            except (E.RateLimited, E.ServerError, E.TransportError) as exc:
                failure = exc
            retry_after = getattr(failure, "retry_after", None)
            pause = self.retry.wait_before_retry(attempt, retry_after, self._rng)
            elapsed = self.clock.monotonic() - started
            if retry_after is not None and retry_after > self.retry.max_retry_after:
                raise failure
            if not self.retry.allows(attempt, elapsed, pause):
                raise failure
            if budget is not None and not isinstance(failure, E.RateLimited):
                if pause >= budget.left:
                    raise failure
                budget.left -= pause
            self.stats.retries += 1
            self._emit(ApiEvent("retry", op.name, op.method, path, attempt, failure.status, wait=pause,
                                message=type(failure).__name__))
            await self.clock.sleep(pause)

    async def _send(
        self, op: Operation, path: str, attempt: int, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """One send. Raises typed errors; wraps an ambiguous failure of a non-idempotent op."""
        try:
            return await self._exchange(op, path, attempt, self._api, path, json=json, params=params, token=True)
        except E.ServerError as exc:
            if op.idempotent:
                raise
            if op.readback is None and exc.status not in GATEWAY_STATUSES:
                raise  # the API answered a failure itself: nothing was done, a retry is safe
            raise _Ambiguous(exc) from exc
        except E.TransportError as exc:
            if op.idempotent or isinstance(exc.__cause__, _NOT_SENT):
                raise
            raise _Ambiguous(exc) from exc

    async def _exchange(
        self,
        op: Operation,
        path: str,
        attempt: int,
        http: httpx.AsyncClient,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        token: bool,
    ) -> httpx.Response:
        """Send once through `http`: pacing and concurrency for the API, stats, events, errors."""
        if self._halted is not None and token:
            raise E.QuotaExceeded(
                "not sent: the organization's quota was exceeded earlier in this run",
                operation=op.name, method=op.method, path=path, status=403,
            )
        headers = {TOKEN_HEADER: self.config.token.reveal()} if token else None
        async with self._semaphore:
            if token:  # paced inside the slot, so the request leaves right at its pace
                await self.limiter.acquire(f"{op.method} {op.path}")
            t0 = self.clock.monotonic()
            budget = _CALL_BUDGET.get()
            try:
                response = await http.request(
                    op.method, url, json=json, params=_query(params), headers=headers,
                    timeout=self._send_timeout(budget),
                )
                await response.aread()
            except httpx.HTTPError as exc:
                elapsed = self.clock.monotonic() - t0
                if budget is not None:
                    budget.left -= elapsed
                if token:
                    self.stats.record(op.name, op.mutating, elapsed, failed=True)
                text = self.redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                self._emit(ApiEvent("request", op.name, op.method, path, attempt, None, elapsed, message=text))
                if budget is not None and budget.left <= 0 and isinstance(exc, httpx.TimeoutException):
                    raise E.TransportError(
                        f"{op.name}: no answer from {self._where(url)} within the call's time limit "
                        f"({self.call_timeout:g}s)",
                        operation=op.name, method=op.method, path=path,
                        hint="the time one call may take (--timeout) was used up: give it longer, e.g. --timeout 2m",
                    ) from exc
                reason = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                detail = self.redact(str(exc))
                raise E.TransportError(
                    f"{op.name}: no answer from {self._where(url)} ({reason}{': ' + detail if detail else ''})",
                    operation=op.name, method=op.method, path=path,
                ) from exc
        elapsed = self.clock.monotonic() - t0
        if budget is not None:
            budget.left -= elapsed
        if token:
            self.stats.record(op.name, op.mutating, elapsed, failed=response.status_code >= 400)
        self._emit(ApiEvent("request", op.name, op.method, path, attempt, response.status_code, elapsed))
        if response.status_code < 400 or response.is_redirect:
            if token:
                self.limiter.on_success()
            return response
        raise self._error(op, path, response, api=token)

    def _send_timeout(self, budget: _Budget | None) -> Any:
        """The client's timeout, cut to what is left of the call's budget."""
        if budget is None:
            return httpx.USE_CLIENT_DEFAULT
        if budget.left <= 0:
            raise httpx.PoolTimeout("the call's time was used up before this request left")
        return min(self.timeout, budget.left)

    def _where(self, url: str) -> str:
        origin = Origin.of(self.absolute(url))
        return f"{origin.scheme}://{origin.host}:{origin.port}"

    # ------------------------------------------------------------------ answers

    def _decode(self, op: Operation, path: str, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise E.ServerError(
                f"{op.name}: the answer is not JSON",
                status=response.status_code, operation=op.name, method=op.method, path=path,
                hint="The API URL may point at something other than Bria's API (--api-url).",
            ) from None

    def _error(self, op: Operation, path: str, response: httpx.Response, *, api: bool) -> E.HttpError:
        """The typed error for an answer; a 429 or a quota from the API also steers the session."""
        status = response.status_code
        code, message, details, request_id = _error_fields(response)
        message = self.redact(message)
        if details is not None:
            details = jsonlib.loads(self.redact(jsonlib.dumps(details)))
        cls = E.error_class_for(status, message)
        reason = response.reason_phrase or "error"
        text = f"{op.name} failed: {status} {reason}" + (f": {message}" if message else "")
        kw: dict[str, Any] = dict(
            status=status, code=code, bria_message=message or None, request_id=request_id,
            operation=op.name, method=op.method, path=path, details=details,
        )
        if not api and status in (401, 403) and cls is not E.QuotaExceeded:
            # the token goes to the API's own host only: this answer is about a URL elsewhere
            kw["hint"] = (f"{path} is not the API's host (a URL the API handed out, or a redirect, points there), so "
                          "the token was not sent to it: the token is not the problem. If the API is served under "
                          "another address, give that one with --api-url.")
        if cls is E.RateLimited:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if api:
                self.stats.rate_limited += 1
                self.limiter.on_rate_limited(retry_after, fallback=self.retry.base_delay)
            self._emit(ApiEvent("rate_limited", op.name, op.method, path, status=status, wait=retry_after))
            return E.RateLimited(text, retry_after=retry_after, **kw)
        if cls is E.QuotaExceeded:
            error = E.QuotaExceeded(text, **kw)
            if not api:
                return error
            self._halted = error
            self._emit(ApiEvent("halted", op.name, op.method, path, status=status, message="quota exceeded"))
            return error
        return cls(text, **kw)

    # ------------------------------------------------------------------ read-back

    async def _resolve(self, call: Call, path: str, attempt: int, error: E.ApiError) -> ReadbackOutcome | None:
        """After an ambiguous failure: the adopted answer, None when a retry is safe, or raise."""
        op = call.op
        finder = self.finders.get(op.readback or "")
        if finder is None:
            self._emit(ApiEvent("ambiguous", op.name, op.method, path, attempt, error.status,
                                message="no read-back exists for this operation"))
            raise E.AmbiguousResult(
                f"{op.name}: the outcome is unknown ({error.message}); it cannot be read back, so it "
                "was not sent again",
                operation=op.name, method=op.method, path=path, status=error.status,
                request_id=error.request_id,
                hint=(
                    "The server may have accepted this paid request. Sending it again may pay twice; "
                    "the run records it as ambiguous."
                ),
            ) from error
        self.stats.readbacks += 1
        self._emit(ApiEvent("readback", op.name, op.method, path, attempt, error.status, message=op.readback or ""))
        try:
            outcome = await finder(self, call)
        except E.QuotaExceeded:
            raise
        except E.ApiError as exc:
            self._emit(ApiEvent("ambiguous", op.name, op.method, path, attempt, error.status,
                                message=f"the read-back failed: {exc.message}"))
            raise E.AmbiguousResult(
                f"{op.name}: the outcome is unknown ({error.message}) and the read-back failed "
                f"({exc.message})",
                operation=op.name, method=op.method, path=path, status=error.status,
                request_id=error.request_id,
            ) from exc
        if outcome.found:
            self.stats.adopted += 1
            self._emit(ApiEvent("adopted", op.name, op.method, path, attempt, message=outcome.reason))
            return outcome
        if outcome.absent:
            return None
        self._emit(ApiEvent("ambiguous", op.name, op.method, path, attempt, error.status, message=outcome.reason))
        raise E.AmbiguousResult(
            f"{op.name}: the outcome is unknown ({error.message}) and the read-back could not tell: "
            f"{outcome.reason}",
            operation=op.name, method=op.method, path=path, status=error.status,
            request_id=error.request_id, candidates=outcome.candidates,
        ) from error

    # ------------------------------------------------------------------ URLs from the server

    async def fetch(self, url: str, *, operation: Operation = FETCH_URL) -> httpx.Response:
        """GET a URL the server handed out; the token goes only to the API's origin.

        Redirects are followed here, hop by hop, so a redirect off the API's origin loses the
        token too. Retried like any idempotent request.
        """
        response: httpx.Response = await self._retrying(operation, self._where(url),
                                                        lambda attempt: self._fetch_once(url, operation, attempt))
        return response

    async def _fetch_once(self, url: str, op: Operation, attempt: int) -> httpx.Response:
        current = self.absolute(url)
        for _ in range(MAX_REDIRECTS + 1):
            mine = self.is_api_url(current)
            http = self._api if mine else self._external
            shown = httpx.URL(current).copy_with(query=None).path if mine else self._where(current)
            response = await self._exchange(op, shown, attempt, http, current, token=mine)
            if not response.is_redirect:
                return response
            current = urljoin(current, response.headers.get("location", ""))
        raise E.TransportError(f"{op.name}: more than {MAX_REDIRECTS} redirects", operation=op.name)

    async def fetch_json(self, url: str, *, operation: Operation = FETCH_URL) -> Any:
        response = await self.fetch(url, operation=operation)
        return self._decode(operation, self._where(url), response)


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def _error_fields(response: httpx.Response) -> tuple[Any, str, Any, str | None]:
    """(code, message, details, request_id) from an error answer, whatever its shape:

    v1    {"message": "...", "errors": [...]}
    v2    {"error": {"code", "message", "details"}, "request_id": "..."}
    text  a JSON string or plain text ("Quota exceeded: ...")
    """
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = response.text.strip()
    code: Any = None
    details: Any = None
    message = ""
    if isinstance(body, Mapping):
        request_id = str(body.get("request_id") or request_id or "") or None
        err = body.get("error")
        if isinstance(err, Mapping):
            code = err.get("code")
            message = str(err.get("message") or "")
            details = err.get("details")
            if isinstance(details, str) and details and details not in message:
                # v2 puts the reason phrase in `message` and the explanation in `details`
                message = f"{message}: {details}" if message else details
        elif isinstance(err, str):
            message = err
        for key in ("message", "detail", "error_message"):
            if not message and isinstance(body.get(key), str):
                message = body[key]
        if not message and body.get("detail") is not None:
            message = jsonlib.dumps(body["detail"])[:MAX_ERROR_TEXT]
        if details is None and body.get("errors") is not None:
            details = body["errors"]
        code = code if code is not None else body.get("code", body.get("error_code"))
    elif isinstance(body, str):
        message = body
    if len(message) > MAX_ERROR_TEXT:
        message = message[:MAX_ERROR_TEXT] + "…"
    return code, message, details, request_id
