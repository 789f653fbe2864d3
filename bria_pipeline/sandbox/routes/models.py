"""Models and training: Created -> InProgress -> Completed | Failed, or InProgress -> Stopping ->
Stopped (Failed and Stopped are final); checkpoints; download; upload of pre-trained models."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.responses import Response

from bria_pipeline.sandbox import lookups
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.fields import Fields, path_int, query_bool
from bria_pipeline.sandbox.routes.datasets import training_version_field
from bria_pipeline.sandbox.problems import STRING, ApiProblem
from bria_pipeline.sandbox.routes.projects import insert_project, validate_new_project
from bria_pipeline.sandbox.serialize import checkpoint_json, model_json

TRAINING_MODES = ("fully_automated", "expert")
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
EXPERT_PARAMETERS = ("lr_scheduler", "learning_rate", "total_training_steps", "rank", "checkpoint_interval",
                     "lr_warmup_steps")
DEFAULTS = {"learning_rate": 0.0001, "lr_scheduler": "constant_with_warmup", "rank": 128,
            "total_training_steps": 750, "checkpoint_interval": 500}
DEFAULT_WARMUP = 100
BASE_MODEL = {"base_model_name": "BRIA-FIBO", "base_model_card": "https://huggingface.co/briaai/BRIA-FIBO"}


def _model_reply(db, row, status: int = 200, **kwargs) -> Response:
    return reply(model_json(row, lookups.checkpoints(db, row["id"]), **kwargs), status)


def create_model(call: Call) -> Response:
    f = Fields(call.body)
    name = f.str("name", required=True, allow_empty=False)
    dataset_id = f.int("dataset_id", required=True)
    mode = f.enum("training_mode", TRAINING_MODES, default="fully_automated")
    description = f.str("description", default="")
    asked = training_version_field(call, f)
    with call.sandbox.db.tx() as db:
        dataset = lookups.dataset(db, call.org, dataset_id)
        have = dataset["training_version"]
        if call.sandbox.variant.transitional and asked is not None and have is not None and asked != have:
            raise ApiProblem(400, f"training_version '{asked}' does not match dataset {dataset_id}'s '{have}': a "
                                  "model trains in its dataset's training version.")
        cur = db.execute(
            "INSERT INTO models(org, project_id, dataset_id, name, description, training_mode, status, created_at,"
            " updated_at) VALUES (?,?,?,?,?,?,'Created',?,?)",
            (call.org, dataset["project_id"], dataset_id, name, description, mode, call.now, call.now),
        )
        row = lookups.model(db, call.org, lookups.inserted(cur))
        return _model_reply(db, row, 201)


def list_models(call: Call) -> Response:
    include = query_bool(call.query, "include_training_parameters")
    with call.sandbox.db.tx() as db:
        rows = db.execute("SELECT * FROM models WHERE org=? ORDER BY id", (call.org,)).fetchall()
        return reply([model_json(r, lookups.checkpoints(db, r["id"]), include_training=include, with_updated=False)
                      for r in rows])


def list_project_models(call: Call) -> Response:
    project_id = path_int(call.param("project_id"), "Project")
    include = query_bool(call.query, "include_training_parameters")
    with call.sandbox.db.tx() as db:
        lookups.project(db, call.org, project_id)
        rows = db.execute("SELECT * FROM models WHERE project_id=? AND org=? ORDER BY id",
                          (project_id, call.org)).fetchall()
        return reply([model_json(r, lookups.checkpoints(db, r["id"]), include_training=include) for r in rows])


def get_model(call: Call) -> Response:
    model_id = path_int(call.param("model_id"), "Model")
    with call.sandbox.db.tx() as db:
        return _model_reply(db, lookups.model(db, call.org, model_id), with_updated=True)


def update_model(call: Call) -> Response:
    model_id = path_int(call.param("model_id"), "Model")
    f = Fields(call.body)
    f.reject(("training_mode", "dataset_id", "project_id", "status"), "cannot be changed after the model is created")
    changes = {}
    name = f.str("name", allow_empty=False)
    description = f.str("description")
    if name is not None:
        changes["name"] = name
    if description is not None:
        changes["description"] = description
    with call.sandbox.db.tx() as db:
        lookups.model(db, call.org, model_id)
        lookups.update(db, "models", model_id, changes, call.now)
        return _model_reply(db, lookups.model(db, call.org, model_id))


def delete_model(call: Call) -> Response:
    model_id = path_int(call.param("model_id"), "Model")
    with call.sandbox.db.tx() as db:
        row = lookups.model(db, call.org, model_id)
        if row["status"] in lookups.TRAINING:
            raise ApiProblem(409, f"Cannot delete model while it is in training (status {row['status']}); stop it first.")
        db.execute("DELETE FROM checkpoints WHERE model_id=?", (model_id,))
        db.execute("DELETE FROM models WHERE id=?", (model_id,))
    return Response(status_code=204)


def _training_parameters(f: Fields, mode: str) -> dict:
    given = [name for name in EXPERT_PARAMETERS if name in f.body]
    if given and mode != "expert":
        raise ApiProblem(400, "Advanced training parameters are only supported when training_mode is set to 'expert' "
                              f"(got {', '.join(given)}).")
    params = dict(DEFAULTS)
    scheduler = f.enum("lr_scheduler", LR_SCHEDULERS)
    learning_rate = f.number("learning_rate", minimum=0.000001, maximum=0.001)
    steps = f.int("total_training_steps", minimum=1, maximum=5000)
    rank = f.int("rank", minimum=4, maximum=256)
    interval = f.int("checkpoint_interval", minimum=100)
    warmup = f.int("lr_warmup_steps", minimum=0, maximum=1000)
    for key, value in (("lr_scheduler", scheduler), ("learning_rate", learning_rate), ("total_training_steps", steps),
                       ("rank", rank), ("checkpoint_interval", interval)):
        if value is not None:
            params[key] = value
    params["lr_warmup_steps"] = (DEFAULT_WARMUP if warmup is None else warmup) \
        if params["lr_scheduler"] == "constant_with_warmup" else None
    return params


def start_training(call: Call) -> Response:
    model_id = path_int(call.param("model_id"), "Model")
    f = Fields(call.body)
    with call.sandbox.db.tx() as db:
        row = lookups.model(db, call.org, model_id)
        params = _training_parameters(f, row["training_mode"])
        if row["status"] != "Created":
            raise ApiProblem(409, f"Training already started/cannot be resumed (model status {row['status']}); "
                                  "create a new model to train again.")
        dataset = db.execute("SELECT * FROM datasets WHERE id=? AND org=?", (row["dataset_id"], call.org)).fetchone()
        if dataset is None or dataset["status"] != "completed":
            state = "deleted" if dataset is None else dataset["status"]
            raise ApiProblem(412, f"Dataset status must be 'completed' to start training (dataset {row['dataset_id']} "
                                  f"is {state}).")
        db.execute(
            "UPDATE models SET status='InProgress', params=?, started_at=?, duration=?, updated_at=? WHERE id=?",
            (json.dumps(params), call.now, call.sandbox.timings.training(int(params["total_training_steps"])), call.now,
             model_id),
        )
        call.sandbox.stats.record_billed("training")
        return _model_reply(db, lookups.model(db, call.org, model_id))


def stop_training(call: Call) -> Response:
    model_id = path_int(call.param("model_id"), "Model")
    with call.sandbox.db.tx() as db:
        row = lookups.model(db, call.org, model_id)
        if row["status"] != "InProgress":
            raise ApiProblem(409, f"Training already stopped/not in training (model status {row['status']}).")
        db.execute(
            "UPDATE models SET status='Stopping', halted_at=?, stop_ready_at=?, updated_at=? WHERE id=?",
            (call.now, call.now + call.sandbox.timings.stop_seconds, call.now, model_id),
        )
        return _model_reply(db, lookups.model(db, call.org, model_id))


def _checkpoint_model(db, call: Call):
    model_id = path_int(call.param("model_id"), "Model")
    row = db.execute("SELECT * FROM models WHERE id=? AND org=?", (model_id, call.org)).fetchone()
    if row is None:
        raise ApiProblem(404, "Model not found", style=STRING)
    if row["training_mode"] != "expert":
        raise ApiProblem(400, "Checkpoints are only available for models trained in expert mode", style=STRING)
    if row["status"] != "Completed":
        raise ApiProblem(400, "The model status is not completed", style=STRING)
    return row


def _checkpoint_step(call: Call) -> int:
    try:
        return int(call.param("checkpoint_step"))
    except ValueError:
        raise ApiProblem(400, "checkpoint_step must be an integer", style=STRING) from None


def list_checkpoints(call: Call) -> Response:
    with call.sandbox.db.tx() as db:
        row = _checkpoint_model(db, call)
        rows = db.execute("SELECT step, created_at FROM checkpoints WHERE model_id=? ORDER BY step",
                          (row["id"],)).fetchall()
    return reply({"checkpoints": [checkpoint_json(row["id"], r["step"], r["created_at"]) for r in rows],
                  "active_model_version": row["active_model_version"]})


def get_checkpoint(call: Call) -> Response:
    step = _checkpoint_step(call)
    with call.sandbox.db.tx() as db:
        row = _checkpoint_model(db, call)
        found = db.execute("SELECT step, created_at FROM checkpoints WHERE model_id=? AND step=?",
                           (row["id"], step)).fetchone()
    if found is None:
        raise ApiProblem(404, "Checkpoint not found", style=STRING)
    return reply(checkpoint_json(row["id"], found["step"], found["created_at"]))


def delete_checkpoint(call: Call) -> Response:
    step = _checkpoint_step(call)
    with call.sandbox.db.tx() as db:
        row = _checkpoint_model(db, call)
        found = db.execute("SELECT step FROM checkpoints WHERE model_id=? AND step=?", (row["id"], step)).fetchone()
        if found is None:
            raise ApiProblem(404, "Checkpoint not found", style=STRING)
        if str(step) == row["active_model_version"]:
            raise ApiProblem(400, "Cannot delete checkpoint currently selected for inference", style=STRING)
        db.execute("DELETE FROM checkpoints WHERE model_id=? AND step=?", (row["id"], step))
    return Response(status_code=204)


def download_model(call: Call) -> Response:
    model_id = path_int(call.param("model_id"), "Model")
    with call.sandbox.db.tx() as db:
        row = lookups.model(db, call.org, model_id)
    if row["status"] != "Completed":
        raise ApiProblem(400, f"The model can be downloaded once training is completed (status {row['status']}).")
    sig = call.sandbox.sign("model", model_id)
    return reply({"download_url": call.url(f"/_sandbox/files/models/{model_id}-{sig}.safetensors"), **BASE_MODEL})


def upload_model(call: Call) -> Response:
    f = Fields(call.body)
    model_url = f.str("model_url", required=True, allow_empty=False)
    model_name = f.str("model_name", allow_empty=False)
    project_id = f.int("project_id")
    parameters = f.body.get("project_parameters")
    parts = urlsplit(model_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiProblem(422, f"model_url must be an accessible http(s) URL, got {model_url!r}.")
    if not parts.path.lower().endswith(".safetensors"):
        raise ApiProblem(415, "Unsupported Media Type: the model must be a .safetensors file.")
    with call.sandbox.db.tx() as db:
        if project_id is not None:
            lookups.project(db, call.org, project_id)
        else:
            if not isinstance(parameters, dict):
                raise ApiProblem(400, "project_parameters is required when project_id is not provided.")
            values = validate_new_project(Fields({"ip_type": "other", **parameters}, what="project_parameters"))
            project_id = insert_project(db, call.org, values, call.now)
        name = model_name or parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "uploaded model"
        cur = db.execute(
            "INSERT INTO models(org, project_id, dataset_id, name, description, training_mode, status, origin,"
            " custom_metadata, created_at, updated_at) VALUES (?,?,NULL,?,'','expert','Completed','uploaded',?,?,?)",
            (call.org, project_id, name, json.dumps({"model_url": model_url}), call.now, call.now),
        )
        row = lookups.model(db, call.org, lookups.inserted(cur))
        data = model_json(row, [], include_training=False, with_updated=False)
    for key in ("training_mode", "custom_metadata", "active_model_version"):
        data.pop(key, None)
    return reply(data)
