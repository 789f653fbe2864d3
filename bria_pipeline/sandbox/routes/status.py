"""The v2 status service: GET /v2/status/{request_id}."""

from __future__ import annotations

import json

from starlette.responses import Response

from bria_pipeline.sandbox.calls import Call, reply


def get_status(call: Call) -> Response:
    request_id = call.param("request_id")
    with call.sandbox.db.tx() as db:
        row = db.execute("SELECT * FROM requests WHERE request_id=? AND org=?", (request_id, call.org)).fetchone()
    if row is None:
        return reply({"status": "NOT_FOUND"}, 404)
    if call.now < row["ready_at"]:
        return reply({"status": "IN_PROGRESS", "request_id": request_id})
    if row["status"] == "ERROR":
        return reply({"status": "ERROR", "error": json.loads(row["error"]), "request_id": request_id})
    return reply({"status": "COMPLETED", "result": json.loads(row["result"]), "request_id": request_id})
