"""Fetching an organization's rows: another organization's ids are simply not found (404)."""

from __future__ import annotations

import sqlite3

from bria_pipeline.sandbox.problems import ApiProblem

TRAINING = ("InProgress", "Stopping")


def inserted(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made."""
    if cur.lastrowid is None:  # pragma: no cover - sqlite3 sets it after every INSERT
        raise RuntimeError("the INSERT made no row")
    return cur.lastrowid


def project(db: sqlite3.Connection, org: str, project_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM projects WHERE id=? AND org=?", (project_id, org)).fetchone()
    if row is None:
        raise ApiProblem(404, f"Project {project_id} not found")
    return row


def dataset(db: sqlite3.Connection, org: str, dataset_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM datasets WHERE id=? AND org=?", (dataset_id, org)).fetchone()
    if row is None:
        raise ApiProblem(404, f"Dataset {dataset_id} not found")
    return row


def image(db: sqlite3.Connection, org: str, dataset_id: int, image_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM images WHERE id=? AND dataset_id=? AND org=?", (image_id, dataset_id, org)).fetchone()
    if row is None:
        raise ApiProblem(404, f"Image {image_id} not found in dataset {dataset_id}")
    return row


def model(db: sqlite3.Connection, org: str, model_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM models WHERE id=? AND org=?", (model_id, org)).fetchone()
    if row is None:
        raise ApiProblem(404, f"Model {model_id} not found")
    return row


def images_count(db: sqlite3.Connection, dataset_id: int) -> int:
    return db.execute("SELECT COUNT(*) FROM images WHERE dataset_id=?", (dataset_id,)).fetchone()[0]


def checkpoints(db: sqlite3.Connection, model_id: int) -> list[int]:
    return [r[0] for r in db.execute("SELECT step FROM checkpoints WHERE model_id=? ORDER BY step", (model_id,))]


def refuse_while_training(db: sqlite3.Connection, column: str, value: int, message: str) -> None:
    """409 when a model whose `column` (dataset_id or project_id) is `value` is training."""
    assert column in ("dataset_id", "project_id")
    rows = db.execute(
        f"SELECT id FROM models WHERE {column}=? AND status IN (?, ?)", (value, *TRAINING)  # noqa: S608
    ).fetchall()
    if rows:
        ids = ", ".join(str(r["id"]) for r in rows)
        raise ApiProblem(409, f"{message} (model {ids} is training; stop it first).")


def remove_dataset(db: sqlite3.Connection, dataset_id: int) -> list[str]:
    """Delete a dataset with its images and bulk job; returns the bulk zip files to discard."""
    zips = [r[0] for r in db.execute("SELECT zip_path FROM bulk_jobs WHERE dataset_id=?", (dataset_id,))]
    db.execute("DELETE FROM images WHERE dataset_id=?", (dataset_id,))
    db.execute("DELETE FROM bulk_jobs WHERE dataset_id=?", (dataset_id,))
    db.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))
    return zips
