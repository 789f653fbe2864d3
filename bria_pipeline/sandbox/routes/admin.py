"""Admin routes under /_sandbox/ (outside the Bria API: no token, never faulted, not counted).

    GET  /_sandbox/health                   {"ok": true, "clock": ..., "now": iso}
    GET  /_sandbox/stats                    {"total", "mutating", "reading", "routes": {"METHOD /template": n}, "statuses"}
    POST /_sandbox/reset                    {} resets request accounting; {"data": true} also wipes all data
    GET  /_sandbox/faults                   the current FaultPlan as JSON
    POST /_sandbox/faults                   replace it (JSON with FaultPlan field names; missing = default)
    GET  /_sandbox/clock                    {"clock", "now", "epoch"}
    POST /_sandbox/clock/advance            {"seconds": n}   (ManualClock only)
    POST /_sandbox/models/{id}/fail         an InProgress training becomes Failed
    POST /_sandbox/requests/{id}/fail       an unfinished generation job will end with status ERROR
    POST /_sandbox/requests/{id}/expire     its result URLs die now; {"gone": true}: the job is forgotten too (404)
    GET  /_sandbox/variant                  the current ApiVariant as JSON
    POST /_sandbox/variant                  replace it (JSON with ApiVariant field names; missing = default)
    POST /_sandbox/projects/{id}/training_version   {"training_version": "max"}: a legacy project
                                            (its datasets too), as made before fibo existed
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bria_pipeline.sandbox import timeline
from bria_pipeline.sandbox.clock import ManualClock, iso
from bria_pipeline.sandbox.context import Sandbox
from bria_pipeline.sandbox.faults import FaultPlan, FaultPlanError
from bria_pipeline.sandbox.routes.generation import EMULATED_FAILURE
from bria_pipeline.sandbox.serialize import project_json
from bria_pipeline.sandbox.variant import TRAINING_VERSIONS, ApiVariant, ApiVariantError


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


async def _json(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise FaultPlanError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise FaultPlanError("the body must be a JSON object")
    return data


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _clock_json(sandbox: Sandbox) -> dict:
    now = sandbox.now()
    return {"clock": repr(sandbox.clock), "now": iso(now), "epoch": now}


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, **_clock_json(_sandbox(request))})


async def stats(request: Request) -> Response:
    return JSONResponse(_sandbox(request).stats.snapshot())


async def reset(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        body = await _json(request)
    except FaultPlanError as exc:
        return _error(str(exc))
    sandbox.stats.reset()
    sandbox.gate.reset_usage()
    wiped = bool(body.get("data"))
    if wiped:
        await run_in_threadpool(sandbox.db.wipe)
        await run_in_threadpool(sandbox.blobs.wipe)
    return JSONResponse({"stats": "reset", "data": "wiped" if wiped else "kept"})


async def get_faults(request: Request) -> Response:
    return JSONResponse(_sandbox(request).gate.plan.to_json())


async def set_faults(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        plan = FaultPlan.from_json(await _json(request))
    except FaultPlanError as exc:
        return _error(str(exc))
    sandbox.gate.replace(plan)
    return JSONResponse(plan.to_json())


async def get_clock(request: Request) -> Response:
    return JSONResponse(_clock_json(_sandbox(request)))


async def advance_clock(request: Request) -> Response:
    sandbox = _sandbox(request)
    if not isinstance(sandbox.clock, ManualClock):
        return _error(f"the sandbox runs on {sandbox.clock!r}; only a ManualClock can be advanced", 409)
    try:
        body = await _json(request)
    except FaultPlanError as exc:
        return _error(str(exc))
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return _error("seconds must be a number >= 0")
    sandbox.clock.advance(float(seconds))
    await run_in_threadpool(timeline.advance, sandbox)
    return JSONResponse(_clock_json(sandbox))


def _fail_model(sandbox: Sandbox, model_id: int) -> JSONResponse:
    timeline.advance(sandbox)
    now = sandbox.now()
    with sandbox.db.tx() as db:
        row = db.execute("SELECT id, status FROM models WHERE id=?", (model_id,)).fetchone()
        if row is None:
            return _error(f"model {model_id} not found", 404)
        if row["status"] != "InProgress":
            return _error(f"model {model_id} is {row['status']}; only an InProgress training can fail", 409)
        db.execute("UPDATE models SET status='Failed', halted_at=?, updated_at=? WHERE id=?", (now, now, model_id))
    return JSONResponse({"id": model_id, "status": "Failed"})


async def fail_model(request: Request) -> Response:
    try:
        model_id = int(request.path_params["model_id"])
    except ValueError:
        return _error("model id must be an integer", 404)
    return await run_in_threadpool(_fail_model, _sandbox(request), model_id)


def _fail_request(sandbox: Sandbox, request_id: str) -> JSONResponse:
    now = sandbox.now()
    with sandbox.db.tx() as db:
        row = db.execute("SELECT ready_at FROM requests WHERE request_id=?", (request_id,)).fetchone()
        if row is None:
            return _error(f"request {request_id} not found", 404)
        if row["ready_at"] <= now:
            return _error(f"request {request_id} has already finished", 409)
        db.execute("UPDATE requests SET status='ERROR', result=NULL, error=? WHERE request_id=?",
                   (json.dumps(EMULATED_FAILURE), request_id))
    return JSONResponse({"request_id": request_id, "status": "ERROR"})


async def fail_request(request: Request) -> Response:
    return await run_in_threadpool(_fail_request, _sandbox(request), request.path_params["request_id"])


def _expire_request(sandbox: Sandbox, request_id: str, gone: bool) -> JSONResponse:
    with sandbox.db.tx() as db:
        row = db.execute("SELECT result FROM requests WHERE request_id=?", (request_id,)).fetchone()
        if row is None:
            return _error(f"request {request_id} not found", 404)
        if gone:
            db.execute("DELETE FROM requests WHERE request_id=?", (request_id,))
    result = json.loads(row["result"]) if row["result"] else {}
    for key in ("image_url", "video_url"):
        if isinstance(result.get(key), str):
            sandbox.kill_urls(result[key])
    return JSONResponse({"request_id": request_id, "urls": "expired", "job": "gone" if gone else "kept"})


async def expire_request(request: Request) -> Response:
    try:
        body = await _json(request)
    except FaultPlanError as exc:
        return _error(str(exc))
    gone = body.get("gone", False)
    if not isinstance(gone, bool):
        return _error("gone must be true or false")
    return await run_in_threadpool(_expire_request, _sandbox(request), request.path_params["request_id"], gone)


async def get_variant(request: Request) -> Response:
    return JSONResponse(_sandbox(request).variant.to_json())


async def set_variant(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        variant = ApiVariant.from_json(await _json(request))
    except (FaultPlanError, ApiVariantError, TypeError) as exc:
        return _error(str(exc))
    sandbox.variant = variant
    return JSONResponse(variant.to_json())


def _set_training_version(sandbox: Sandbox, project_id: int, version: str) -> JSONResponse:
    with sandbox.db.tx() as db:
        row = db.execute("SELECT * FROM projects WHERE id=?", (project_id,)).fetchone()
        if row is None:
            return _error(f"project {project_id} not found", 404)
        db.execute("UPDATE projects SET training_version=? WHERE id=?", (version, project_id))
        db.execute("UPDATE datasets SET training_version=? WHERE project_id=?", (version, project_id))
        row = db.execute("SELECT * FROM projects WHERE id=?", (project_id,)).fetchone()
    return JSONResponse(project_json(row))


async def set_training_version(request: Request) -> Response:
    try:
        project_id = int(request.path_params["project_id"])
    except ValueError:
        return _error("project id must be an integer", 404)
    try:
        body = await _json(request)
    except FaultPlanError as exc:
        return _error(str(exc))
    version = body.get("training_version")
    if version not in TRAINING_VERSIONS:
        return _error(f"training_version must be one of {', '.join(TRAINING_VERSIONS)}, got {version!r}")
    return await run_in_threadpool(_set_training_version, _sandbox(request), project_id, version)
