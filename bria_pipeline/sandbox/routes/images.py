"""Dataset images: basic upload (file as base64 / data URL / multipart, or image_url), list,
get, caption update (manual JSON or regenerate), delete."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from starlette.responses import Response

from bria_pipeline.sandbox import imaging, lookups, moderation, sources, timeline
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.descriptions import parse_json_text
from bria_pipeline.sandbox.fields import Fields, path_int
from bria_pipeline.sandbox.problems import ApiProblem
from bria_pipeline.sandbox.serialize import image_json

MAX_BASIC_IMAGES = 200


def _check_can_add(db, dataset, *, adding: int = 1) -> None:
    if dataset["upload_type"] != "basic":
        raise ApiProblem(400, "This endpoint only serves 'basic' upload type datasets; use images/bulk-upload "
                              "for advanced datasets.")
    if dataset["status"] == "completed":
        raise ApiProblem(409, "Cannot upload to a completed dataset; clone it as a draft to add images.")
    count = lookups.images_count(db, dataset["id"])
    if count + adding > MAX_BASIC_IMAGES:
        raise ApiProblem(409, f"Max images reached: a basic dataset holds at most {MAX_BASIC_IMAGES} images.")


def upload_image(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    body = call.body if isinstance(call.body, dict) else ({} if call.body is None else call.body)
    raw_file = body.get("file") if isinstance(body, dict) else None
    f = Fields({k: v for k, v in body.items() if not isinstance(v, bytes)} if isinstance(body, dict) else body)
    image_url = f.str("image_url", allow_empty=False)
    file_text = f.str("file", allow_empty=False) if not isinstance(raw_file, bytes) else None
    image_name = f.str("image_name", allow_empty=False)
    increase_resolution = f.bool("increase_resolution", default=True)
    content_moderation = f.bool("content_moderation", default=False)
    has_file = isinstance(raw_file, bytes) or file_text is not None
    if has_file and image_url:
        raise ApiProblem(400, "Provide either file or image_url, not both.")
    if not has_file and not image_url:
        raise ApiProblem(400, "file or image_url is required.")
    with call.sandbox.db.tx() as db:
        _check_can_add(db, lookups.dataset(db, call.org, dataset_id))
    if isinstance(raw_file, bytes):
        data = raw_file
    elif file_text is not None:
        data = sources.decode_base64(file_text, "file")
    else:
        data = sources.fetch(call.sandbox, image_url, call.host, limit=imaging.MAX_IMAGE_BYTES)
    prepared = imaging.prepare_upload(data, increase_resolution=increase_resolution)
    name = image_name or body.get("_filename") or _name_from_url(image_url) or f"image-{prepared.facts['width']}x" \
        f"{prepared.facts['height']}.{prepared.ext}"
    if content_moderation:
        moderation.check_image(name, prepared.metadata_text)
    blob = call.sandbox.blobs.put(prepared.data)
    with call.sandbox.db.tx() as db:
        dataset = lookups.dataset(db, call.org, dataset_id)
        _check_can_add(db, dataset)
        caption, source = timeline.caption_for(dataset, prepared.facts, name)
        cur = db.execute(
            "INSERT INTO images(org, dataset_id, image_name, blob, ext, width, height, facts, caption, caption_source,"
            " upload_source_url, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (call.org, dataset_id, name, blob, prepared.ext, prepared.width, prepared.height, json.dumps(prepared.facts),
             caption, source, image_url, call.now, call.now),
        )
        db.execute("UPDATE datasets SET updated_at=? WHERE id=?", (call.now, dataset_id))
        row = lookups.image(db, call.org, dataset_id, lookups.inserted(cur))
    return reply(image_json(call, row, nullable_caption=True, nullable_source=True), 201)


def _name_from_url(url: str | None) -> str | None:
    if not url:
        return None
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or None


def list_images(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    with call.sandbox.db.tx() as db:
        lookups.dataset(db, call.org, dataset_id)
        rows = db.execute("SELECT * FROM images WHERE dataset_id=? ORDER BY id", (dataset_id,)).fetchall()
    return reply([image_json(call, r) for r in rows])


def get_image(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    image_id = path_int(call.param("image_id"), "Image")
    with call.sandbox.db.tx() as db:
        lookups.dataset(db, call.org, dataset_id)
        row = lookups.image(db, call.org, dataset_id, image_id)
    return reply(image_json(call, row))


def update_caption(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    image_id = path_int(call.param("image_id"), "Image")
    f = Fields(call.body)
    caption = f.str("caption")
    regenerate = f.bool("regenerate_caption", default=False)
    if caption is not None and regenerate:
        raise ApiProblem(400, "Provide either caption or regenerate_caption, not both.")
    if caption is None and not regenerate:
        raise ApiProblem(400, "Provide caption (a string containing valid JSON) or regenerate_caption: true.")
    if caption is not None:
        parse_json_text(caption, "caption")
    with call.sandbox.db.tx() as db:
        dataset = lookups.dataset(db, call.org, dataset_id)
        row = lookups.image(db, call.org, dataset_id, image_id)
        if dataset["status"] == "completed":
            raise ApiProblem(409, "Cannot update caption in a completed dataset; clone it as a draft instead.")
        if regenerate:
            text, source = timeline.caption_for(dataset, json.loads(row["facts"]), row["image_name"])
            if text is None:
                raise ApiProblem(400, "The dataset has no visual_schema to caption from; set one first.")
        else:
            text, source = caption, "manual"
        db.execute("UPDATE images SET caption=?, caption_source=?, updated_at=? WHERE id=?",
                   (text, source, call.now, image_id))
        db.execute("UPDATE datasets SET updated_at=? WHERE id=?", (call.now, dataset_id))
        row = lookups.image(db, call.org, dataset_id, image_id)
    return reply(image_json(call, row))


def delete_image(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    image_id = path_int(call.param("image_id"), "Image")
    with call.sandbox.db.tx() as db:
        dataset = lookups.dataset(db, call.org, dataset_id)
        lookups.image(db, call.org, dataset_id, image_id)
        if dataset["status"] == "completed":
            raise ApiProblem(409, "Cannot delete an image from a completed dataset.")
        db.execute("DELETE FROM images WHERE id=?", (image_id,))
        db.execute("UPDATE datasets SET updated_at=? WHERE id=?", (call.now, dataset_id))
    return Response(status_code=204)
