"""Projects: /v1/tailored-gen/projects[/{project_id}]."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response

from bria_pipeline.sandbox import lookups
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.fields import Fields, path_int
from bria_pipeline.sandbox.problems import ApiProblem
from bria_pipeline.sandbox.serialize import project_json

IP_MEDIUMS = ("photography", "illustration")
IP_TYPES = ("multi_object_set", "object_variants", "icons", "defined_character", "character_variants",
            "stylized_scene", "other")
ILLUSTRATION_ONLY = ("object_variants", "multi_object_set", "icons", "character_variants")
NEEDS_IP_NAME = ("defined_character",)
NEEDS_IP_DESCRIPTION = ("defined_character", "object_variants")


def validate_new_project(f: Fields) -> dict:
    values = {
        "project_name": f.str("project_name", required=True, allow_empty=False),
        "project_description": f.str("project_description", default=""),
        "ip_name": f.str("ip_name", default=""),
        "ip_description": f.str("ip_description", default=""),
        "ip_medium": f.enum("ip_medium", IP_MEDIUMS, required=True),
        "ip_type": f.enum("ip_type", IP_TYPES, required=True),
    }
    ip_type = values["ip_type"]
    if ip_type in ILLUSTRATION_ONLY and values["ip_medium"] != "illustration":
        raise ApiProblem(400, f"ip_type {ip_type!r} is only available when ip_medium is 'illustration'.")
    if ip_type in NEEDS_IP_NAME and not values["ip_name"].strip():
        raise ApiProblem(400, f"ip_name is required for ip_type {ip_type!r}.")
    if ip_type in NEEDS_IP_DESCRIPTION and not values["ip_description"].strip():
        raise ApiProblem(400, f"ip_description is required for ip_type {ip_type!r}.")
    return values


def insert_project(db, org: str, values: dict, now: float) -> int:
    cur = db.execute(
        "INSERT INTO projects(org, project_name, project_description, ip_name, ip_description, ip_medium, ip_type,"
        " training_version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (org, values["project_name"], values["project_description"], values["ip_name"], values["ip_description"],
         values["ip_medium"], values["ip_type"], None, now, now),
    )
    return lookups.inserted(cur)


def create_project(call: Call) -> Response:
    values = validate_new_project(Fields(call.body))
    with call.sandbox.db.tx() as db:
        project_id = insert_project(db, call.org, values, call.now)
        row = lookups.project(db, call.org, project_id)
    return reply(project_json(row), 201)


def list_projects(call: Call) -> Response:
    with call.sandbox.db.tx() as db:
        rows = db.execute("SELECT * FROM projects WHERE org=? ORDER BY id", (call.org,)).fetchall()
    return reply([project_json(r, with_updated=True) for r in rows])


def get_project(call: Call) -> Response:
    project_id = path_int(call.param("project_id"), "Project")
    with call.sandbox.db.tx() as db:
        row = lookups.project(db, call.org, project_id)
    return reply(project_json(row))


def update_project(call: Call) -> Response:
    project_id = path_int(call.param("project_id"), "Project")
    f = Fields(call.body)
    f.reject(("ip_type", "ip_medium"), "cannot be changed after the project is created")
    changes = {}
    for name in ("project_name", "project_description", "ip_name", "ip_description"):
        value = f.str(name, allow_empty=name != "project_name")
        if value is not None:
            changes[name] = value
    with call.sandbox.db.tx() as db:
        row = lookups.project(db, call.org, project_id)
        merged = {**dict(row), **changes}
        if merged["ip_type"] in NEEDS_IP_NAME and not merged["ip_name"].strip():
            raise ApiProblem(400, f"ip_name is required for ip_type {merged['ip_type']!r}.")
        if merged["ip_type"] in NEEDS_IP_DESCRIPTION and not merged["ip_description"].strip():
            raise ApiProblem(400, f"ip_description is required for ip_type {merged['ip_type']!r}.")
        lookups.update(db, "projects", project_id, changes, call.now)
        row = lookups.project(db, call.org, project_id)
    return reply(project_json(row))


def delete_project(call: Call) -> Response:
    project_id = path_int(call.param("project_id"), "Project")
    with call.sandbox.db.tx() as db:
        lookups.project(db, call.org, project_id)
        lookups.refuse_while_training(db, "project_id", project_id, "Cannot delete project while models are in training")
        zips = []
        for (dataset_id,) in db.execute("SELECT id FROM datasets WHERE project_id=?", (project_id,)).fetchall():
            zips += lookups.remove_dataset(db, dataset_id)
        db.execute("DELETE FROM checkpoints WHERE model_id IN (SELECT id FROM models WHERE project_id=?)", (project_id,))
        db.execute("DELETE FROM models WHERE project_id=?", (project_id,))
        db.execute("DELETE FROM projects WHERE id=?", (project_id,))
    for path in zips:
        call.sandbox.blobs.discard(Path(path))
    return Response(status_code=204)
