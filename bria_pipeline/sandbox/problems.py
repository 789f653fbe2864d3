"""Error answers, shaped the way each part of the API shapes them.

    ApiProblem(status, message)          raised anywhere in a handler; rendered by `problem_response`
     - v1 (management) bodies:           {"message": "..."}  (+ "errors": [...] for field validation)
     - v2 (generation, status) bodies:   {"error": {"code", "message", "details"}, "request_id"}
     - "string" bodies (the contract types some 4xx as a JSON string): "Checkpoint not found"
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import JSONResponse

V1 = "v1"
V2 = "v2"
STRING = "string"

QUOTA_MESSAGE = (
    "Quota exceeded: this sandbox organization has used its {quota} requests in total "
    "(sandbox fault plan). Raise or clear the quota with POST /_sandbox/faults."
)
RATE_MESSAGE = "Request limit exceeded: more than {limit} requests per minute to this endpoint (sandbox fault plan)."
THROTTLE_MESSAGE = "Too many requests: the organisation's request limit is used up for now (sandbox fault plan)."


class ApiProblem(Exception):
    """An API error answer. `errors` carries per-field validation details (v1 style)."""

    def __init__(self, status: int, message: str, *, errors: list[dict[str, str]] | None = None,
                 style: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.style = style
        self.headers = headers or {}


def field_error(field: str, message: str, value: Any) -> ApiProblem:
    """A 400 naming the field, its input and what is wrong (pydantic-like `errors` list)."""
    shown = "" if value is None else (value if isinstance(value, str) else repr(value))
    return ApiProblem(400, f"{field}: {message}", errors=[{"msg": message, "field_name": field, "field_input": str(shown)}])


def new_request_id() -> str:
    return secrets.token_hex(16)


def problem_body(problem: ApiProblem, style: str, request_id: str | None = None) -> Any:
    style = problem.style or style
    if style == STRING:
        return problem.message
    if style == V2:
        return {
            "error": {"code": problem.status, "message": _reason(problem.status), "details": problem.message},
            "request_id": request_id or new_request_id(),
        }
    body: dict[str, Any] = {"message": problem.message}
    if problem.errors:
        body["errors"] = problem.errors
    return body


def problem_response(problem: ApiProblem, style: str, request_id: str | None = None) -> JSONResponse:
    return JSONResponse(problem_body(problem, style, request_id), status_code=problem.status, headers=problem.headers)


_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
    412: "Precondition Failed", 413: "Payload Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
}


def _reason(status: int) -> str:
    return _REASONS.get(status, "Error")
