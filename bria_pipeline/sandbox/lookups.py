"""Fetching an organization's rows: another organization's ids are simply not found (404)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from bria_pipeline.sandbox.problems import ApiProblem

TRAINING = ("InProgress", "Stopping")


def inserted(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made."""
    if cur.lastrowid is None:  # pragma: no cover - sqlite3 sets it after every INSERT
        raise RuntimeError("the INSERT made no row")
    return cur.lastrowid


def _one(db: sqlite3.Connection, query: str, params: tuple[object, ...], missing: str) -> sqlite3.Row:
    """The one row `query` finds; a 404 saying `missing` when there is none."""
    row = db.execute(query, params).fetchone()
    if row is None:
        raise ApiProblem(404, missing)
    return row


def project(db: sqlite3.Connection, org: str, project_id: int) -> sqlite3.Row:
    return _one(db, "SELECT * FROM projects WHERE id=? AND org=?", (project_id, org), f"Project {project_id} not found")


def dataset(db: sqlite3.Connection, org: str, dataset_id: int) -> sqlite3.Row:
    return _one(db, "SELECT * FROM datasets WHERE id=? AND org=?", (dataset_id, org), f"Dataset {dataset_id} not found")


def image(db: sqlite3.Connection, org: str, dataset_id: int, image_id: int) -> sqlite3.Row:
    return _one(db, "SELECT * FROM images WHERE id=? AND dataset_id=? AND org=?", (image_id, dataset_id, org),
                f"Image {image_id} not found in dataset {dataset_id}")


def model(db: sqlite3.Connection, org: str, model_id: int) -> sqlite3.Row:
    return _one(db, "SELECT * FROM models WHERE id=? AND org=?", (model_id, org), f"Model {model_id} not found")


def update(db: sqlite3.Connection, table: str, row_id: int, changes: Mapping[str, object], now: float) -> None:
    """Set `changes` (column -> value) on one row of `table` and stamp its updated_at; nothing when empty."""
    if changes:
        sets = ", ".join(f"{k}=?" for k in changes)
        db.execute(f"UPDATE {table} SET {sets}, updated_at=? WHERE id=?",  # noqa: S608 - fixed names
                   (*changes.values(), now, row_id))


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
