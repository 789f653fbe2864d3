"""Advanced (bulk) uploads: a zip of up to 5000 images, processed as emulated time passes.

A job is `pending` for `bulk_start_seconds`, then `processing`: one image per
`bulk_seconds_per_image` is taken from the zip (at most MAX_IMAGES_PER_REQUEST per request, so a
poll never does unbounded work; a large backlog drains over a few polls), checked like a basic upload (format by
content, 1024x1024 minimum, 12 MB) and either added to the dataset or listed in
`failed_images`. The job ends `completed`, or `failed` when no image could be added.
Work is claimed under the database lock and done outside it, so concurrent requests never
process an image twice.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from bria_pipeline.sandbox import descriptions, imaging, moderation
from bria_pipeline.sandbox.problems import ApiProblem

if TYPE_CHECKING:
    from bria_pipeline.sandbox.context import Sandbox

MAX_BULK_IMAGES = 5000
MAX_IMAGES_PER_REQUEST = 200  # bounds the work one request does; a large backlog drains over a few polls
MAX_ZIP_BYTES = 5 * 1024**3


def zip_entries(path: str) -> list[str]:
    """Image-like member names of a zip (directories, hidden and __MACOSX files skipped)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = []
            for info in archive.infolist():
                name = PurePosixPath(info.filename)
                if info.is_dir() or name.name.startswith(".") or "__MACOSX" in name.parts:
                    continue
                names.append(info.filename)
            return names
    except (zipfile.BadZipFile, OSError):
        raise ApiProblem(400, "zip_url does not point to a readable ZIP archive.") from None


@dataclass
class _Outcome:
    name: str
    blob: str | None = None
    ext: str = ""
    width: int = 0
    height: int = 0
    facts: dict[str, Any] | None = None
    error_code: int = 0
    error_message: str = ""


def advance(sandbox: Sandbox, now: float) -> None:
    timings = sandbox.timings
    claims = []
    with sandbox.db.tx() as db:
        for job in db.execute("SELECT * FROM bulk_jobs WHERE status IN ('pending', 'processing')").fetchall():
            elapsed = round(now - job["started_at"] - timings.bulk_start_seconds, 6)
            if elapsed < 0:
                continue
            if job["status"] == "pending":
                db.execute("UPDATE bulk_jobs SET status='processing' WHERE dataset_id=?", (job["dataset_id"],))
            per_image = timings.bulk_seconds_per_image
            due = job["total"] if per_image <= 0 else min(job["total"], math.floor(elapsed / per_image + 1e-9))
            target = min(due, job["claimed"] + MAX_IMAGES_PER_REQUEST)
            if target > job["claimed"]:
                db.execute("UPDATE bulk_jobs SET claimed=? WHERE dataset_id=?", (target, job["dataset_id"]))
                claims.append((job, job["claimed"], target))
            elif job["claimed"] >= job["total"] and job["done"] + job["failed"] >= job["total"]:
                _finish(db, job["dataset_id"])
    for job, start, end in claims:
        names = json.loads(job["entries"])[start:end]
        outcomes = _process(sandbox, job["zip_path"], names, bool(job["content_moderation"]))
        _record(sandbox, job, outcomes, now)


def _process(sandbox: Sandbox, zip_path: str, names: list[str], content_moderation: bool) -> list[_Outcome]:
    outcomes = []
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError):
        return [_Outcome(n, error_code=400, error_message="the ZIP archive could not be read") for n in names]
    with archive:
        for name in names:
            outcomes.append(_process_one(sandbox, archive, name, content_moderation))
    return outcomes


def _process_one(sandbox: Sandbox, archive: zipfile.ZipFile, name: str, content_moderation: bool) -> _Outcome:
    try:
        info = archive.getinfo(name)
        if info.file_size > imaging.MAX_IMAGE_BYTES:
            raise ApiProblem(413, f"Image is {info.file_size / 1e6:.1f} MB; the maximum is 12 MB.")
        prepared = imaging.prepare_upload(archive.read(name), increase_resolution=False)
        if content_moderation:
            moderation.check_image(name, prepared.metadata_text)
        blob = sandbox.blobs.put(prepared.data)
        return _Outcome(name, blob, prepared.ext, prepared.width, prepared.height, prepared.facts)
    except ApiProblem as problem:
        return _Outcome(name, error_code=problem.status, error_message=problem.message)
    except Exception as exc:  # noqa: BLE001 - one bad member must not stall the job
        return _Outcome(name, error_code=500, error_message=f"could not process the image: {exc}")


def _record(sandbox: Sandbox, job: Any, outcomes: list[_Outcome], now: float) -> None:
    with sandbox.db.tx() as db:
        dataset = db.execute("SELECT * FROM datasets WHERE id=?", (job["dataset_id"],)).fetchone()
        current = db.execute("SELECT * FROM bulk_jobs WHERE dataset_id=?", (job["dataset_id"],)).fetchone()
        if dataset is None or current is None:
            return
        failed_images = json.loads(current["failed_images"])
        done = failed = 0
        for outcome in outcomes:
            if outcome.blob is None:
                failed += 1
                failed_images.append({"filename": outcome.name, "error_code": outcome.error_code,
                                      "error_message": outcome.error_message})
                continue
            image_name = PurePosixPath(outcome.name).name
            text = descriptions.caption(dataset["visual_schema"], outcome.facts or {}, image_name)
            db.execute(
                "INSERT INTO images(org, dataset_id, image_name, blob, ext, width, height, facts, caption,"
                " caption_source, upload_source_url, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (dataset["org"], dataset["id"], image_name, outcome.blob, outcome.ext, outcome.width, outcome.height,
                 json.dumps(outcome.facts), text, "automatic" if text else None, None, now, now),
            )
            done += 1
        db.execute(
            "UPDATE bulk_jobs SET done=done+?, failed=failed+?, failed_images=? WHERE dataset_id=?",
            (done, failed, json.dumps(failed_images), job["dataset_id"]),
        )
        if done:
            db.execute("UPDATE datasets SET updated_at=? WHERE id=?", (now, dataset["id"]))
        _finish(db, job["dataset_id"])


def _finish(db: Any, dataset_id: int) -> None:
    job = db.execute("SELECT * FROM bulk_jobs WHERE dataset_id=?", (dataset_id,)).fetchone()
    if job is None or job["status"] in ("completed", "failed"):
        return
    if job["done"] + job["failed"] >= job["total"]:
        status = "failed" if job["done"] == 0 and job["total"] > 0 else "completed"
        db.execute("UPDATE bulk_jobs SET status=? WHERE dataset_id=?", (status, dataset_id))


def status_json(job: Any) -> dict[str, Any]:
    total = job["total"]
    processed = job["done"] + job["failed"]
    return {
        "status": job["status"],
        "progress_percentage": 100 if total == 0 and job["status"] in ("completed", "failed")
        else (math.floor(processed * 100 / total) if total else 0),
        "total_processed": processed,
        "done": job["done"],
        "failed": job["failed"],
        "failed_images": json.loads(job["failed_images"]),
    }
