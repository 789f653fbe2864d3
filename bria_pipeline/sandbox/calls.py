"""From a Starlette request to a handler call and back.

Handlers are plain synchronous functions `handler(call) -> Response`; `endpoint()` adapts one
to Starlette: it reads the body, advances emulated time, runs the handler in a worker thread
(image work never blocks the event loop) and renders `ApiProblem` in the operation's style.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bria_pipeline.sandbox import timeline
from bria_pipeline.sandbox.context import Sandbox
from bria_pipeline.sandbox.problems import V1, ApiProblem, problem_response


@dataclass
class Call:
    sandbox: Sandbox
    org: str
    method: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    base: str
    host: str
    now: float

    def url(self, path: str) -> str:
        return self.base + path

    def param(self, name: str) -> str:
        return self.path_params[name]


def reply(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def base_url_of(sandbox: Sandbox, request: Request) -> str:
    if sandbox.base_url:
        return sandbox.base_url
    return str(request.base_url).rstrip("/")


MAX_BODY_BYTES = 64 * 1024 * 1024  # a 12 MB image in base64 is about 16 MB


async def read_body(request: Request, *, multipart: bool) -> Any:
    content_type = request.headers.get("content-type", "")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(413, f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if multipart and content_type.startswith("multipart/form-data"):
        return parse_form(content_type, raw)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiProblem(400, f"The request body is not valid JSON: {exc}.") from None


def parse_form(content_type: str, raw: bytes) -> dict[str, Any]:
    """multipart/form-data without extra dependencies: text fields as str, file parts as bytes.
    The first file part's filename is kept as `_filename` (a default image_name)."""
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw,
                                       policy=email.policy.HTTP)
    if not message.is_multipart():
        raise ApiProblem(400, "The multipart/form-data body could not be parsed.")
    data: dict[str, Any] = {}
    for part in message.iter_parts():
        param = part.get_param("name", header="content-disposition")
        # an RFC 2231 encoded name comes as (charset, language, text)
        name = email.utils.collapse_rfc2231_value(param) if isinstance(param, tuple) else param
        if not name:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):  # None: a part without a body
            payload = b""
        filename = part.get_filename()
        if filename is not None:
            data[name] = payload
            data.setdefault("_filename", filename)
        else:
            data[name] = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return data


def endpoint(handler: Callable[[Call], Response], *, style: str = V1, multipart: bool = False) -> Callable:
    async def run(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        try:
            body = await read_body(request, multipart=multipart) if request.method in ("POST", "PUT", "PATCH") else None
        except ApiProblem as problem:
            return problem_response(problem, style)
        except ClientDisconnect:  # the client went away mid-request (killed): nothing was done
            return Response(status_code=400)
        call = Call(
            sandbox=sandbox,
            org=request.scope["state"]["org"],
            method=request.method,
            path_params=request.path_params,
            query=request.query_params,
            body=body,
            base=base_url_of(sandbox, request),
            host=request.url.netloc,
            now=0.0,
        )
        return await run_in_threadpool(_invoke, handler, call, style)

    run.__name__ = handler.__name__
    return run


def _invoke(handler: Callable[[Call], Response], call: Call, style: str) -> Response:
    try:
        timeline.advance(call.sandbox)
        call.now = call.sandbox.now()
        return handler(call)
    except ApiProblem as problem:
        return problem_response(problem, style)
