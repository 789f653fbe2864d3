"""The v2 status service: GET /v2/status/{request_id}.

A finished job's result URLs are signed afresh on every answer and die `url_ttl_seconds` later
(or when the job does); a job older than `result_ttl_seconds` is gone (404), as Bria keeps
generated assets for 3 days. The variant decides how statuses are spelled, what a failed job
says, and how many UNKNOWN answers come before a finished job's real status.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.context import Sandbox

URL_FIELDS = ("image_url", "video_url")


def fresh_result(sandbox: Sandbox, result: dict[str, Any], created_at: float) -> dict[str, Any]:
    """The result with its URLs signed to die at the URL lifetime's end, or the job's."""
    variant = sandbox.variant
    expires = min(sandbox.now() + variant.url_ttl_seconds, created_at + variant.result_ttl_seconds)
    return {k: sandbox.signed_url(v, expires) if k in URL_FIELDS and isinstance(v, str) else v
            for k, v in result.items()}


def get_status(call: Call) -> Response:
    request_id = call.param("request_id")
    sandbox = call.sandbox
    variant = sandbox.variant
    with sandbox.db.tx() as db:
        row = db.execute("SELECT * FROM requests WHERE request_id=? AND org=?", (request_id, call.org)).fetchone()
    if row is None or call.now >= row["created_at"] + variant.result_ttl_seconds:
        return reply({"status": "NOT_FOUND"}, 404)  # unknown, or expired: results are kept 3 days
    if call.now < row["ready_at"]:
        return reply({"status": variant.job_status("IN_PROGRESS"), "request_id": request_id})
    if sandbox.unknown_answers[request_id] < variant.unknown_polls:
        sandbox.unknown_answers[request_id] += 1
        return reply({"status": variant.job_status("UNKNOWN"), "request_id": request_id})
    if row["status"] == "ERROR":
        return reply({"status": variant.job_status("ERROR"), "error": json.loads(row["error"]),
                      "request_id": request_id})
    result = fresh_result(sandbox, json.loads(row["result"]), row["created_at"])
    return reply({"status": variant.job_status("COMPLETED"), "result": result, "request_id": request_id})
