"""Advanced uploads: POST images/bulk-upload (a zip_url) and GET images/bulk-upload/status."""

from __future__ import annotations

import json
import secrets

from starlette.responses import Response

from bria_pipeline.sandbox import bulk, lookups, sources
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.fields import Fields, path_int
from bria_pipeline.sandbox.problems import ApiProblem


def start_bulk_upload(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    f = Fields(call.body)
    zip_url = f.str("zip_url", required=True, allow_empty=False)
    content_moderation = f.bool("content_moderation", default=False)
    with call.sandbox.db.tx() as db:
        _check_can_start(db, lookups.dataset(db, call.org, dataset_id))
    blobs = call.sandbox.blobs
    key = f"{dataset_id}-{secrets.token_hex(6)}"
    download = blobs.zip_path(key + ".part")
    fetched = sources.fetch_to_file(call.sandbox, zip_url, call.host, download, limit=bulk.MAX_ZIP_BYTES)
    kept = blobs.adopt_zip(fetched, key)
    if fetched == download:
        blobs.discard(download)
    try:
        entries = bulk.zip_entries(str(kept))
        if not entries:
            raise ApiProblem(400, "The ZIP archive contains no files.")
        if len(entries) > bulk.MAX_BULK_IMAGES:
            raise ApiProblem(400, f"The ZIP archive holds {len(entries)} files; at most {bulk.MAX_BULK_IMAGES} images "
                                  "are supported.")
        with call.sandbox.db.tx() as db:
            _check_can_start(db, lookups.dataset(db, call.org, dataset_id))
            db.execute(
                "INSERT INTO bulk_jobs(dataset_id, org, zip_path, entries, total, status, content_moderation, started_at)"
                " VALUES (?,?,?,?,?,'pending',?,?)",
                (dataset_id, call.org, str(kept), json.dumps(entries), len(entries), int(content_moderation), call.now),
            )
            db.execute("UPDATE datasets SET updated_at=? WHERE id=?", (call.now, dataset_id))
            job = db.execute("SELECT * FROM bulk_jobs WHERE dataset_id=?", (dataset_id,)).fetchone()
    except ApiProblem:
        blobs.discard(kept)
        raise
    return reply(bulk.status_json(job), 202)


def _check_can_start(db, dataset) -> None:
    if dataset["upload_type"] != "advanced":
        raise ApiProblem(400, "Bulk upload is supported for 'advanced' upload type datasets only.")
    if dataset["status"] == "completed":
        raise ApiProblem(400, "Cannot upload to a completed dataset.")
    if db.execute("SELECT 1 FROM bulk_jobs WHERE dataset_id=?", (dataset["id"],)).fetchone():
        raise ApiProblem(400, "A bulk upload already took place for this dataset (one bulk upload per dataset); "
                              "create or clone a new dataset.")
    if lookups.images_count(db, dataset["id"]):
        raise ApiProblem(400, "Bulk upload requires an empty dataset.")


def bulk_upload_status(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    with call.sandbox.db.tx() as db:
        dataset = lookups.dataset(db, call.org, dataset_id)
        if dataset["upload_type"] != "advanced":
            raise ApiProblem(400, "Bulk upload status exists for 'advanced' upload type datasets only.")
        job = db.execute("SELECT * FROM bulk_jobs WHERE dataset_id=?", (dataset_id,)).fetchone()
    if job is None:
        raise ApiProblem(404, f"No bulk upload was started for dataset {dataset_id}.")
    return reply(bulk.status_json(job))
