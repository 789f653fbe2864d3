"""Datasets: create, list, get, update (schema only in draft, completion rules), delete,
clone as draft, regenerate all captions, and the advanced-dataset download."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response

from bria_pipeline.sandbox import lookups
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.descriptions import parse_json_text
from bria_pipeline.sandbox.fields import Fields, path_int, query_bool
from bria_pipeline.sandbox.problems import ApiProblem
from bria_pipeline.sandbox.serialize import dataset_json, image_json, model_json
from bria_pipeline.sandbox.variant import LEGACY_VERSIONS, TRAINING_VERSIONS

UPLOAD_TYPES = ("basic", "advanced")
MIN_IMAGES_TO_COMPLETE = 5


def training_version_field(call: Call, f: Fields) -> str | None:
    """The request's training_version, read as the sandbox's variant says (None: not sent)."""
    if call.sandbox.variant.training_version == "refuse_field" and "training_version" in f.body:
        raise ApiProblem(422, "Unknown field training_version: extra inputs are not permitted.")
    return f.enum("training_version", TRAINING_VERSIONS)


def create_dataset(call: Call) -> Response:
    f = Fields(call.body)
    project_id = f.int("project_id", required=True)
    name = f.str("name", required=True, allow_empty=False)
    upload_type = f.enum("upload_type", UPLOAD_TYPES, default="basic")
    asked = training_version_field(call, f)
    variant = call.sandbox.variant
    with call.sandbox.db.tx() as db:
        project = lookups.project(db, call.org, project_id)
        locked = project["training_version"]
        version = asked or ("max" if variant.transitional else locked or "fibo")
        if variant.transitional and locked is not None and version != locked:
            raise ApiProblem(400, f"Cannot create a {version} dataset in project {project_id}, which is locked to "
                                  f"training_version '{locked}'; create a new project for {version} datasets.")
        if locked is None:
            db.execute("UPDATE projects SET training_version=? WHERE id=?", (version, project_id))
        cur = db.execute(
            "INSERT INTO datasets(org, project_id, name, upload_type, training_version, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (call.org, project_id, name, upload_type, version, call.now, call.now),
        )
        row = lookups.dataset(db, call.org, lookups.inserted(cur))
    return reply(dataset_json(row), 201)


def list_datasets(call: Call) -> Response:
    with call.sandbox.db.tx() as db:
        rows = db.execute("SELECT * FROM datasets WHERE org=? ORDER BY id", (call.org,)).fetchall()
        counts = _counts(db, [r["id"] for r in rows])
    return reply([dataset_json(r, images_count=counts.get(r["id"], 0)) for r in rows])


def list_project_datasets(call: Call) -> Response:
    project_id = path_int(call.param("project_id"), "Project")
    include_models = query_bool(call.query, "include_models")
    include_ids = query_bool(call.query, "include_models_ids")
    with call.sandbox.db.tx() as db:
        lookups.project(db, call.org, project_id)
        rows = db.execute("SELECT * FROM datasets WHERE project_id=? AND org=? ORDER BY id",
                          (project_id, call.org)).fetchall()
        counts = _counts(db, [r["id"] for r in rows])
        models = db.execute("SELECT * FROM models WHERE project_id=? AND org=? ORDER BY id",
                            (project_id, call.org)).fetchall() if (include_models or include_ids) else []
        checkpoints = {m["id"]: lookups.checkpoints(db, m["id"]) for m in models} if include_models else {}
    out = []
    for row in rows:
        data = dataset_json(row, images_count=counts.get(row["id"], 0))
        using = [m for m in models if m["dataset_id"] == row["id"]]
        if include_models:
            data["models"] = [model_json(m, checkpoints[m["id"]]) for m in using]
        if include_ids:
            data["model_ids"] = [str(m["id"]) for m in using]
        out.append(data)
    return reply(out)


def _counts(db, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return dict(db.execute(
        f"SELECT dataset_id, COUNT(*) FROM images WHERE dataset_id IN ({marks}) GROUP BY dataset_id", ids  # noqa: S608
    ).fetchall())


def get_dataset(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    raw = call.query.get("max_images")
    max_images = 200
    if raw is not None:
        try:
            max_images = int(raw)
        except ValueError:
            raise ApiProblem(400, f"max_images must be an integer between 1 and 200, got {raw!r}.") from None
        if not 1 <= max_images <= 200:
            raise ApiProblem(400, f"max_images must be between 1 and 200, got {max_images}.")
    with call.sandbox.db.tx() as db:
        row = lookups.dataset(db, call.org, dataset_id)
        count = lookups.images_count(db, dataset_id)
        images = db.execute("SELECT * FROM images WHERE dataset_id=? ORDER BY id LIMIT ?",
                            (dataset_id, max_images)).fetchall()
    data = dataset_json(row, images_count=count)
    data["images"] = [image_json(call, i, nullable_source=True, with_source_url=True) for i in images]
    created, updated = data.pop("created_at"), data.pop("updated_at")
    data["created_at"], data["updated_at"] = created, updated
    return reply(data)


def update_dataset(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    f = Fields(call.body)
    name = f.str("name", allow_empty=False)
    schema_given = "visual_schema" in f.body
    schema = f.str("visual_schema") if schema_given else None
    status = f.str("status")
    if status is not None:  # the real API takes "Completed" (Bria's cookbook sends it) as "completed"
        if status.strip().lower() not in ("draft", "completed"):
            f.enum("status", ("draft", "completed"))
        status = status.strip().lower()
    if schema_given and schema is not None:
        parse_json_text(schema, "visual_schema")
    with call.sandbox.db.tx() as db:
        row = lookups.dataset(db, call.org, dataset_id)
        if schema_given and schema and call.sandbox.variant.transitional and row["training_version"] in LEGACY_VERSIONS:
            raise ApiProblem(400, f"Dataset {dataset_id} has training_version '{row['training_version']}': a visual "
                                  "schema is supported for fibo datasets only.")
        if schema_given and row["status"] == "completed" and schema != row["visual_schema"]:
            raise ApiProblem(409, "Cannot update visual_schema for a completed dataset; clone it as a draft instead.")
        if status == "draft" and row["status"] == "completed":
            raise ApiProblem(409, "A completed dataset cannot return to draft; clone it as a draft instead.")
        new_schema = schema if schema_given else row["visual_schema"]
        if status == "completed" and row["status"] == "draft":
            _check_completable(db, row, new_schema)
        changes: dict = {}
        if name is not None:
            changes["name"] = name
        if schema_given:
            changes["visual_schema"] = schema
        if status is not None:
            changes["status"] = status
        lookups.update(db, "datasets", dataset_id, changes, call.now)
        row = lookups.dataset(db, call.org, dataset_id)
    return reply(dataset_json(row))


def _check_completable(db, row, schema: str | None) -> None:
    count = lookups.images_count(db, row["id"])
    if count < MIN_IMAGES_TO_COMPLETE:
        raise ApiProblem(409, f"Insufficient images to complete: the dataset has {count}, at least "
                              f"{MIN_IMAGES_TO_COMPLETE} are required.")
    if not schema:
        raise ApiProblem(409, "The dataset has no visual_schema; generate one with /generate_visual_schema and set it first.")
    if row["captions_update_status"] == "in_progress":
        raise ApiProblem(409, "Captions are being regenerated; wait until captions_update_status is 'completed'.")
    job = db.execute("SELECT status FROM bulk_jobs WHERE dataset_id=?", (row["id"],)).fetchone()
    if job is not None and job["status"] in ("pending", "processing"):
        raise ApiProblem(409, "A bulk upload is still in progress for this dataset.")
    missing = db.execute("SELECT COUNT(*) FROM images WHERE dataset_id=? AND caption IS NULL", (row["id"],)).fetchone()[0]
    if missing:
        raise ApiProblem(409, f"{missing} image(s) have no caption (uploaded before the visual schema was set); "
                              "call Regenerate All Captions first.")


def delete_dataset(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    with call.sandbox.db.tx() as db:
        lookups.dataset(db, call.org, dataset_id)
        lookups.refuse_while_training(db, "dataset_id", dataset_id,
                                      "Cannot delete a dataset that is used by a model in training")
        zips = lookups.remove_dataset(db, dataset_id)
    for path in zips:
        call.sandbox.blobs.discard(Path(path))
    return Response(status_code=204)


def clone_dataset(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    f = Fields(call.body)
    name = f.str("name", allow_empty=False)
    description = f.str("description")
    with call.sandbox.db.tx() as db:
        source = lookups.dataset(db, call.org, dataset_id)
        cur = db.execute(
            "INSERT INTO datasets(org, project_id, name, description, visual_schema, status, captions_update_status,"
            " upload_type, training_version, created_at, updated_at) VALUES (?,?,?,?,?,'draft',?,?,?,?,?)",
            (call.org, source["project_id"], name or f"Copy of {source['name']}", description, source["visual_schema"],
             "completed" if source["captions_update_status"] != "empty" else "empty", source["upload_type"],
             source["training_version"], call.now, call.now),
        )
        clone_id = lookups.inserted(cur)
        db.execute(
            "INSERT INTO images(org, dataset_id, image_name, blob, ext, width, height, facts, caption, caption_source,"
            " upload_source_url, created_at, updated_at) SELECT org, ?, image_name, blob, ext, width, height, facts,"
            " caption, CASE WHEN caption IS NULL THEN NULL ELSE 'automatic' END, upload_source_url, ?, ?"
            " FROM images WHERE dataset_id=? ORDER BY id",
            (clone_id, call.now, call.now, dataset_id),
        )
        row = lookups.dataset(db, call.org, clone_id)
        images = db.execute("SELECT * FROM images WHERE dataset_id=? ORDER BY id", (clone_id,)).fetchall()
    data = dataset_json(row, images_count=len(images))
    data["images"] = [image_json(call, i) for i in images]
    created, updated = data.pop("created_at"), data.pop("updated_at")
    data["created_at"], data["updated_at"] = created, updated
    return reply(data, 201)


def regenerate_all_captions(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    with call.sandbox.db.tx() as db:
        row = lookups.dataset(db, call.org, dataset_id)
        if row["status"] == "completed":
            raise ApiProblem(403, "Captions of a completed dataset are frozen; clone it as a draft to change captions.")
        count = lookups.images_count(db, dataset_id)
        ready = call.now + call.sandbox.timings.captions(count)
        db.execute("UPDATE datasets SET captions_update_status='in_progress', captions_ready_at=?, updated_at=? WHERE id=?",
                   (ready, call.now, dataset_id))
        row = lookups.dataset(db, call.org, dataset_id)
    data = dataset_json(row)
    data.pop("upload_type")
    return reply(data, 202)


def download_dataset(call: Call) -> Response:
    dataset_id = path_int(call.param("dataset_id"), "Dataset")
    with call.sandbox.db.tx() as db:
        row = lookups.dataset(db, call.org, dataset_id)
        if row["upload_type"] != "advanced":
            raise ApiProblem(409, "Download is only supported for advanced dataset types.")
        sources = {r[0] for r in db.execute("SELECT DISTINCT caption_source FROM images WHERE dataset_id=?", (dataset_id,))}
    sig = call.sandbox.sign("dataset", dataset_id)
    data = {"download_url": call.url(f"/_sandbox/files/datasets/{dataset_id}-{sig}.zip")}
    if sources == {"automatic"}:
        data["captions_url"] = call.url(f"/_sandbox/files/datasets/{dataset_id}-{sig}-captions.json")
    return reply(data)
