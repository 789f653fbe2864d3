"""Emulated time: everything that progresses upstream is brought up to `clock.now()` here.

`advance(sandbox)` runs before every API request. It is cheap when nothing is in flight
(indexed status lookups) and idempotent, so concurrent requests may call it freely:

- trainings: steps grow linearly over `training_seconds`; a checkpoint appears every
  `checkpoint_interval` steps (and at the last step); InProgress -> Completed;
  Stopping -> Stopped after `stop_seconds`
- caption regeneration: captions_update_status in_progress -> completed
- bulk uploads: pending -> processing -> completed | failed, images appearing one by one
Generation jobs need no materialising: their status is read from `ready_at` (see routes/status.py).
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import TYPE_CHECKING, Any

from bria_pipeline.sandbox import bulk, descriptions

if TYPE_CHECKING:
    from bria_pipeline.sandbox.context import Sandbox


def advance(sandbox: Sandbox) -> None:
    now = sandbox.now()
    with sandbox.db.tx() as db:
        _advance_trainings(db, now)
        _advance_captions(db, now)
    bulk.advance(sandbox, now)


def training_steps(row: sqlite3.Row, now: float) -> int:
    """Steps done by a training at `now` (frozen at halted_at once stopped or failed)."""
    if row["started_at"] is None or not row["params"]:
        return 0
    params = json.loads(row["params"])
    total = int(params["total_training_steps"])
    end = row["halted_at"] if row["halted_at"] is not None else now
    elapsed = max(0.0, round(end - row["started_at"], 6))  # epoch floats carry ~1e-7 s of noise
    duration = row["duration"] or 0.0
    if duration <= 0:
        return total
    return min(total, math.floor(elapsed / duration * total + 1e-9))


def checkpoint_schedule(total: int, interval: int, steps: int) -> list[int]:
    """Checkpoint steps reached after `steps` steps: every interval, and the final step."""
    reached = list(range(interval, min(steps, total) + 1, interval))
    if steps >= total and (not reached or reached[-1] != total):
        reached.append(total)
    return reached


def _advance_trainings(db: sqlite3.Connection, now: float) -> None:
    for row in db.execute("SELECT * FROM models WHERE status IN ('InProgress', 'Stopping')").fetchall():
        params = json.loads(row["params"])
        total, interval = int(params["total_training_steps"]), int(params["checkpoint_interval"])
        steps = training_steps(row, now)
        per_step = (row["duration"] or 0.0) / total
        for step in checkpoint_schedule(total, interval, steps):
            db.execute(
                "INSERT OR IGNORE INTO checkpoints(model_id, step, created_at) VALUES (?, ?, ?)",
                (row["id"], step, row["started_at"] + step * per_step),
            )
        if row["status"] == "InProgress" and steps >= total:
            finished = row["started_at"] + (row["duration"] or 0.0)
            version = str(total) if row["training_mode"] == "expert" else "default"
            db.execute(
                "UPDATE models SET status='Completed', active_model_version=?, updated_at=? WHERE id=?",
                (version, finished, row["id"]),
            )
        elif row["status"] == "Stopping" and row["stop_ready_at"] is not None and now >= row["stop_ready_at"]:
            db.execute("UPDATE models SET status='Stopped', updated_at=? WHERE id=?", (row["stop_ready_at"], row["id"]))


def _advance_captions(db: sqlite3.Connection, now: float) -> None:
    due = db.execute(
        "SELECT * FROM datasets WHERE captions_update_status='in_progress' AND captions_ready_at <= ?", (now,)
    ).fetchall()
    for dataset in due:
        regenerate_captions(db, dataset, dataset["captions_ready_at"])
        db.execute(
            "UPDATE datasets SET captions_update_status='completed', captions_ready_at=NULL, updated_at=? WHERE id=?",
            (dataset["captions_ready_at"], dataset["id"]),
        )


def regenerate_captions(db: sqlite3.Connection, dataset: sqlite3.Row, when: float) -> None:
    schema = dataset["visual_schema"]
    for image in db.execute("SELECT id, facts, image_name FROM images WHERE dataset_id=?", (dataset["id"],)).fetchall():
        text = descriptions.caption(schema, json.loads(image["facts"]), image["image_name"])
        db.execute(
            "UPDATE images SET caption=?, caption_source=?, updated_at=? WHERE id=?",
            (text, "automatic" if text is not None else None, when, image["id"]),
        )


def caption_for(dataset: sqlite3.Row, facts: dict[str, Any], image_name: str) -> tuple[str | None, str | None]:
    text = descriptions.caption(dataset["visual_schema"], facts, image_name)
    return text, ("automatic" if text is not None else None)
