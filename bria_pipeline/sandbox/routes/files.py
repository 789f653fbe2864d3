"""Files the sandbox serves without a token (like pre-signed URLs): uploaded images and their
thumbnails, generated images and videos, dataset and model downloads, and staged uploads.

    /_sandbox/files/images/{sha256}.{ext}          uploaded (possibly upscaled) image
    /_sandbox/files/thumbnails/{sha256}.png        256 px thumbnail, made on first request
    /_sandbox/files/generated/{sha256}.png         generated image
    /_sandbox/files/videos/{sha256}.mp4|.avi       generated video (H.264 MP4 with PyAV, else animated WebP)
    /_sandbox/files/datasets/{id}-{sig}.zip        advanced dataset download
    /_sandbox/files/datasets/{id}-{sig}-captions.json
    /_sandbox/files/models/{id}-{sig}.safetensors  model download (a small emulated file)
    /_sandbox/staging/{name}                       bytes stored with PUT /_sandbox/staging/{name}
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zipfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from bria_pipeline.sandbox import imaging
from bria_pipeline.sandbox.context import Sandbox

_BLOB = re.compile(r"^/_sandbox/files/(images|generated|videos)/([0-9a-f]{64})\.(png|jpg|webp|gif|mp4|avi)$")
_THUMB = re.compile(r"^/_sandbox/files/thumbnails/([0-9a-f]{64})\.png$")
_DATASET = re.compile(r"^/_sandbox/files/datasets/(\d+)-([0-9a-f]{20})(-captions\.json|\.zip)$")
_MODEL = re.compile(r"^/_sandbox/files/models/(\d+)-([0-9a-f]{20})\.safetensors$")
# a staged name: letters, digits, '.', '_', '-', not starting with a dot (no "..", no hidden file)
_STAGING = re.compile(r"^/_sandbox/staging/([A-Za-z0-9_-][A-Za-z0-9._-]{0,199})$")
STAGING_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
MAX_STAGING_BYTES = 8 * 1024**3  # an advanced dataset of 5,000 images fits; more is refused with 413

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "avi": "video/x-msvideo", "mp4": "video/mp4",
               "zip": "application/zip", "json": "application/json", "safetensors": "application/octet-stream"}


def local_path(sandbox: Sandbox, path: str) -> Path | None:
    """The file behind a sandbox URL path, building derived files on demand; None if unknown."""
    if match := _BLOB.match(path):
        candidate = sandbox.blobs.path(match.group(2))
        return candidate if candidate.is_file() else None
    if match := _THUMB.match(path):
        digest = match.group(1)
        if not sandbox.blobs.has(digest):
            return None
        target = sandbox.blobs.named(f"thumb-{digest}.png")
        if not target.is_file():
            sandbox.blobs.put_named(target.name, imaging.thumbnail_png(sandbox.blobs.read(digest)))
        return target
    if match := _DATASET.match(path):
        dataset_id = int(match.group(1))
        if match.group(2) != sandbox.sign("dataset", dataset_id):
            return None
        return _dataset_file(sandbox, dataset_id, captions=match.group(3) != ".zip")
    if match := _MODEL.match(path):
        model_id = int(match.group(1))
        if match.group(2) != sandbox.sign("model", model_id):
            return None
        return _model_file(sandbox, model_id)
    if match := _STAGING.match(path):
        candidate = sandbox.blobs.staging_path(match.group(1))
        return candidate if candidate.is_file() else None
    return None


def _dataset_file(sandbox: Sandbox, dataset_id: int, *, captions: bool) -> Path | None:
    with sandbox.db.tx() as db:
        if db.execute("SELECT 1 FROM datasets WHERE id=?", (dataset_id,)).fetchone() is None:
            return None
        rows = db.execute("SELECT id, image_name, blob, ext, caption FROM images WHERE dataset_id=? ORDER BY id",
                          (dataset_id,)).fetchall()
    state = hashlib.sha256(json.dumps([tuple(r) for r in rows]).encode()).hexdigest()[:16]
    if captions:
        doc = {"emulated": True, "dataset_id": dataset_id,
               "captions": [{"image_name": r["image_name"], "caption": r["caption"]} for r in rows]}
        return sandbox.blobs.put_named(f"dataset-{dataset_id}-{state}-captions.json", json.dumps(doc).encode())
    target = sandbox.blobs.named(f"dataset-{dataset_id}-{state}.zip")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp, handle = sandbox.blobs.open_writer()
        with handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            used: set[str] = set()
            for row in rows:
                name = row["image_name"] if row["image_name"] not in used else f"{row['id']}-{row['image_name']}"
                used.add(name)
                archive.write(sandbox.blobs.path(row["blob"]), name)
        tmp.replace(target)
    return target


def _model_file(sandbox: Sandbox, model_id: int) -> Path | None:
    with sandbox.db.tx() as db:
        row = db.execute("SELECT id, name, status FROM models WHERE id=?", (model_id,)).fetchone()
    if row is None or row["status"] != "Completed":
        return None
    weights = hashlib.sha256(f"model:{model_id}".encode()).digest() * 2  # 64 bytes = 16 float32 values
    header = {"__metadata__": {"emulated": "true", "generator": "bria-pipeline sandbox", "model_id": str(model_id),
                               "model_name": row["name"]},
              "lora_emulated.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, len(weights)]}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return sandbox.blobs.put_named(f"model-{model_id}.safetensors", struct.pack("<Q", len(raw)) + raw + weights)


async def serve_file(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    path = request.url.path
    if sandbox.url_alive(path, request.query_params) is False:
        return JSONResponse({"message": "Request has expired: this result URL is no longer valid; ask the status "
                                        "service for a fresh one (results are kept 3 days)."}, status_code=403)
    found = await run_in_threadpool(local_path, sandbox, path)
    if found is None:
        return JSONResponse({"message": f"No file at {path}"}, status_code=404)
    suffix = path.rsplit(".", 1)[-1]
    return FileResponse(found, media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"))


async def put_staging(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    name = request.path_params["name"]
    if not STAGING_NAME.match(name):
        return JSONResponse({"message": "a staging name is 1-200 letters, digits, '.', '_' and '-', not starting "
                                        f"with a dot: {name[:80]!r} is refused"}, status_code=400)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_STAGING_BYTES:
        return _too_large()
    tmp, handle = sandbox.blobs.open_writer()
    size = 0
    try:
        with handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_STAGING_BYTES:
                    break
                handle.write(chunk)
    except BaseException:
        sandbox.blobs.discard(tmp)
        raise
    if size > MAX_STAGING_BYTES:
        sandbox.blobs.discard(tmp)
        return _too_large()
    sandbox.blobs.commit_staging(tmp, name)
    base = sandbox.base_url or str(request.base_url).rstrip("/")
    return JSONResponse({"name": name, "size": size, "url": f"{base}/_sandbox/staging/{name}"}, status_code=201)


def _too_large() -> JSONResponse:
    return JSONResponse({"message": f"a staged file is at most {MAX_STAGING_BYTES // 1024**3} GiB"}, status_code=413)
