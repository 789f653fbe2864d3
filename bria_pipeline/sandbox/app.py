"""The sandbox application: routes exactly where the contract's per-operation servers put them,
wrapped in the gate every Bria API request passes (stats, api_token, quota, rate limit,
latency, 5xx, response lost after commit).

    create_app(db=None, *, clock=None, faults=None, base_url=None, training_seconds=3.0, variant=None) -> Starlette
"""

from __future__ import annotations

import asyncio
import os
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from bria_pipeline.sandbox.calls import endpoint
from bria_pipeline.sandbox.clock import Clock, ScaledClock
from bria_pipeline.sandbox.context import Sandbox, Timings
from bria_pipeline.sandbox.faults import FaultGate, FaultPlan
from bria_pipeline.sandbox.problems import (QUOTA_MESSAGE, RATE_MESSAGE, THROTTLE_MESSAGE, V1, V2, ApiProblem,
                                           problem_body)
from bria_pipeline.sandbox.routes import (admin, bulk_upload, datasets, files, generation, images, models, projects,
                                          status, structured)
from bria_pipeline.sandbox.store import BlobStore, Database, org_of
from bria_pipeline.sandbox.variant import ApiVariant

TG = "/v1/tailored-gen"

# (method, path template, handler, options) - the order matters where literal segments compete
# with parameters (bulk-upload before {image_id}, upload_model before {model_id}).
API_ROUTES: list[tuple[str, str, Any, dict]] = [
    ("POST", f"{TG}/projects", projects.create_project, {}),
    ("GET", f"{TG}/projects", projects.list_projects, {}),
    ("GET", f"{TG}/projects/{{project_id}}", projects.get_project, {}),
    ("PUT", f"{TG}/projects/{{project_id}}", projects.update_project, {}),
    ("DELETE", f"{TG}/projects/{{project_id}}", projects.delete_project, {}),
    ("GET", f"{TG}/projects/{{project_id}}/datasets", datasets.list_project_datasets, {}),
    ("GET", f"{TG}/projects/{{project_id}}/models", models.list_project_models, {}),
    ("POST", f"{TG}/datasets", datasets.create_dataset, {}),
    ("GET", f"{TG}/datasets", datasets.list_datasets, {}),
    ("GET", f"{TG}/datasets/{{dataset_id}}", datasets.get_dataset, {}),
    ("PUT", f"{TG}/datasets/{{dataset_id}}", datasets.update_dataset, {}),
    ("DELETE", f"{TG}/datasets/{{dataset_id}}", datasets.delete_dataset, {}),
    ("POST", f"{TG}/datasets/{{dataset_id}}/clone", datasets.clone_dataset, {}),
    ("POST", f"{TG}/datasets/{{dataset_id}}/images", images.upload_image, {"multipart": True}),
    ("GET", f"{TG}/datasets/{{dataset_id}}/images", images.list_images, {}),
    ("PUT", f"{TG}/datasets/{{dataset_id}}/images", datasets.regenerate_all_captions, {}),
    ("POST", f"{TG}/datasets/{{dataset_id}}/images/bulk-upload", bulk_upload.start_bulk_upload, {}),
    ("GET", f"{TG}/datasets/{{dataset_id}}/images/bulk-upload/status", bulk_upload.bulk_upload_status, {}),
    ("GET", f"{TG}/datasets/{{dataset_id}}/images/{{image_id}}", images.get_image, {}),
    ("PUT", f"{TG}/datasets/{{dataset_id}}/images/{{image_id}}", images.update_caption, {}),
    ("DELETE", f"{TG}/datasets/{{dataset_id}}/images/{{image_id}}", images.delete_image, {}),
    ("POST", f"{TG}/generate_visual_schema", structured.generate_visual_schema, {}),
    ("POST", f"{TG}/refine_structured_prompt", structured.refine_structured_prompt, {}),
    ("POST", f"{TG}/models/upload_model", models.upload_model, {}),
    ("POST", f"{TG}/models", models.create_model, {}),
    ("GET", f"{TG}/models", models.list_models, {}),
    ("GET", f"{TG}/models/{{model_id}}", models.get_model, {}),
    ("PUT", f"{TG}/models/{{model_id}}", models.update_model, {}),
    ("DELETE", f"{TG}/models/{{model_id}}", models.delete_model, {}),
    ("POST", f"{TG}/models/{{model_id}}/start_training", models.start_training, {}),
    ("POST", f"{TG}/models/{{model_id}}/stop_training", models.stop_training, {}),
    ("GET", f"{TG}/models/{{model_id}}/checkpoints", models.list_checkpoints, {}),
    ("GET", f"{TG}/models/{{model_id}}/checkpoints/{{checkpoint_step}}", models.get_checkpoint, {}),
    ("DELETE", f"{TG}/models/{{model_id}}/checkpoints/{{checkpoint_step}}", models.delete_checkpoint, {}),
    ("GET", f"{TG}/models/{{model_id}}/download", models.download_model, {}),
    ("GET", "/v1/datasets/{dataset_id}/download", datasets.download_dataset, {}),
    ("POST", "/v2/image/generate/tailored", generation.generate_image, {"style": V2}),
    ("POST", "/v2/structured_prompt/generate/tailored", generation.generate_structured_prompt, {"style": V2}),
    ("POST", "/v2/video/generate/tailored/image-to-video", generation.generate_video, {"style": V2}),
    ("GET", "/v2/status/{request_id}", status.get_status, {"style": V2}),
]

ADMIN_ROUTES = [
    Route("/_sandbox/health", admin.health, methods=["GET"]),
    Route("/_sandbox/stats", admin.stats, methods=["GET"]),
    Route("/_sandbox/reset", admin.reset, methods=["POST"]),
    Route("/_sandbox/faults", admin.get_faults, methods=["GET"]),
    Route("/_sandbox/faults", admin.set_faults, methods=["POST", "PUT"]),
    Route("/_sandbox/clock", admin.get_clock, methods=["GET"]),
    Route("/_sandbox/clock/advance", admin.advance_clock, methods=["POST"]),
    Route("/_sandbox/models/{model_id}/fail", admin.fail_model, methods=["POST"]),
    Route("/_sandbox/requests/{request_id}/fail", admin.fail_request, methods=["POST"]),
    Route("/_sandbox/requests/{request_id}/expire", admin.expire_request, methods=["POST"]),
    Route("/_sandbox/variant", admin.get_variant, methods=["GET"]),
    Route("/_sandbox/variant", admin.set_variant, methods=["POST", "PUT"]),
    Route("/_sandbox/projects/{project_id}/training_version", admin.set_training_version, methods=["POST"]),
    Route("/_sandbox/staging/{name}", files.put_staging, methods=["PUT"]),
    Route("/_sandbox/staging/{name}", files.serve_file, methods=["GET"]),
    Route("/_sandbox/files/{path:path}", files.serve_file, methods=["GET"]),
]

LOST_RESPONSE = "Server disconnected without sending a response (sandbox: response lost after commit)."


def _is_api(path: str) -> bool:
    return path.startswith(("/v1/", "/v2/"))


class SandboxApp(Starlette):
    """Starlette plus the gate in front of the Bria API routes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api(scope["path"]):
            await super().__call__(scope, receive, send)
            return
        template = self._template(scope)
        if template is None:  # unknown path or method: the router answers 404 / 405
            await super().__call__(scope, receive, send)
            return
        sandbox: Sandbox = self.state.sandbox
        method = scope["method"]
        sandbox.stats.record(method, template)
        style = V2 if template.startswith("/v2/") else V1

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sandbox.stats.record_status(message["status"])
            await send(message)

        token = _header(scope, b"api_token")
        if not token:
            problem = ApiProblem(401, "Unauthorized: the api_token header is missing.")
            await self._answer(scope, receive, counted_send, problem_body(problem, style), 401)
            return
        org = org_of(token)
        verdict = sandbox.gate.admit(org, f"{method} {template}", method, template, sandbox.now())
        if verdict.latency_s:
            await asyncio.sleep(verdict.latency_s)
        if verdict.error:
            status = verdict.status or 500
            problem = ApiProblem(status, f"{HTTPStatus(status).phrase} (emulated by the sandbox fault plan; nothing "
                                         "was done).")
            await self._answer(scope, receive, counted_send, problem_body(problem, style), status)
            return
        if verdict.status == 403:
            body = QUOTA_MESSAGE.format(quota=sandbox.gate.plan.quota)
            await self._answer(scope, receive, counted_send, body, 403)
            return
        if verdict.status == 429:
            limit = sandbox.gate.plan.rate_limit_per_minute
            problem = ApiProblem(429, RATE_MESSAGE.format(limit=limit) if limit is not None else THROTTLE_MESSAGE)
            await self._answer(scope, receive, counted_send, problem_body(problem, style), 429,
                               {"Retry-After": str(verdict.retry_after)})
            return
        scope.setdefault("state", {})["org"] = org
        if not verdict.lose_response:
            await super().__call__(scope, receive, counted_send)
            return

        async def swallow(message: Message) -> None:  # the change commits; its answer never leaves
            return None

        await super().__call__(scope, receive, swallow)
        if sandbox.gate.plan.lose_mode == "502":
            problem = ApiProblem(502, "Bad Gateway (emulated: the request was carried out but its response was lost).")
            await self._answer(scope, receive, counted_send, problem_body(problem, style), 502)
            return
        await _drop_connection(send)

    def _template(self, scope: Scope) -> str | None:
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL and isinstance(route, Route):
                return route.path
        return None

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, body: Any, status: int,
                      headers: dict[str, str] | None = None) -> None:
        await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text = value.decode("latin-1").strip()
            return text or None
    return None


async def _drop_connection(send: Send) -> None:
    """Close the connection without an answer (uvicorn), or fail the in-process transport."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        for _ in range(3):  # let the server notice the disconnection before the app returns
            await asyncio.sleep(0)
        return
    raise httpx.RemoteProtocolError(LOST_RESPONSE)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"message": f"Not found: {request.method} {request.url.path}"}, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"message": f"Method not allowed: {request.method} {request.url.path}"}, status_code=405)


def _blob_root(db: str | os.PathLike | None) -> Path | None:
    if db is None:
        return None
    path = Path(db)
    return path.with_name(path.name + ".files")


def create_app(
    db: str | os.PathLike | None = None,
    *,
    clock: Clock | None = None,
    faults: FaultPlan | None = None,
    base_url: str | None = None,
    training_seconds: float = 3.0,
    variant: ApiVariant | None = None,
) -> Starlette:
    """Build a sandbox app. `db=None` keeps everything in memory (files in a temporary directory);
    a path persists the database there and files beside it in `<db>.files/`."""
    if training_seconds < 0:
        raise ValueError("training_seconds must be >= 0")
    routes = [Route(path, endpoint(handler, **options), methods=[method]) for method, path, handler, options in API_ROUTES]
    app = SandboxApp(routes=routes + ADMIN_ROUTES, exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.sandbox = Sandbox(
        db=Database(db),
        blobs=BlobStore(_blob_root(db)),
        clock=clock or ScaledClock(1.0),
        gate=FaultGate(faults),
        timings=Timings(training_seconds=training_seconds),
        base_url=base_url,
        variant=variant,
    )
    return app
