"""Rows to JSON, field by field as the contract's response schemas type them.

Where a schema types a field as a non-nullable string and the sandbox has no value (an image
uploaded before the dataset had a visual schema has no caption), the key is left out rather
than sent as null.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bria_pipeline.sandbox.calls import Call
from bria_pipeline.sandbox.clock import iso


def project_json(row: sqlite3.Row, *, with_updated: bool = False) -> dict[str, Any]:
    data = {
        "id": row["id"],
        "project_name": row["project_name"],
        "project_description": row["project_description"],
        "ip_name": row["ip_name"],
        "ip_description": row["ip_description"],
        "ip_medium": row["ip_medium"],
        "ip_type": row["ip_type"],
        "training_version": row["training_version"],
        "status": "active",
        "created_at": iso(row["created_at"]),
    }
    if with_updated:
        data["updated_at"] = iso(row["updated_at"])
    return data


def dataset_json(row: sqlite3.Row, *, images_count: int | None = None) -> dict[str, Any]:
    data = {
        "id": row["id"],
        "project_id": row["project_id"],
        "name": row["name"],
        "visual_schema": row["visual_schema"],
        "status": row["status"],
        "captions_update_status": row["captions_update_status"],
        "upload_type": row["upload_type"],
        "training_version": row["training_version"],
    }
    if images_count is not None:
        data["images_count"] = images_count
    data["created_at"] = iso(row["created_at"])
    data["updated_at"] = iso(row["updated_at"])
    return data


def image_url(call: Call, row: sqlite3.Row) -> str:
    return call.url(f"/_sandbox/files/images/{row['blob']}.{row['ext']}")


def thumbnail_url(call: Call, row: sqlite3.Row) -> str:
    return call.url(f"/_sandbox/files/thumbnails/{row['blob']}.png")


def image_json(call: Call, row: sqlite3.Row, *, nullable_caption: bool = False, nullable_source: bool = False,
               with_source_url: bool = False, source_override: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": row["id"], "dataset_id": row["dataset_id"]}
    if row["caption"] is not None or nullable_caption:
        data["caption"] = row["caption"]
    source = source_override if (source_override and row["caption_source"]) else row["caption_source"]
    if source is not None or nullable_source:
        data["caption_source"] = source
    if with_source_url:
        data["upload_source_url"] = row["upload_source_url"]
    data["image_name"] = row["image_name"]
    data["image_url"] = image_url(call, row)
    data["thumbnail_url"] = thumbnail_url(call, row)
    data["created_at"] = iso(row["created_at"])
    data["updated_at"] = iso(row["updated_at"])
    return data


def model_params(row: sqlite3.Row) -> dict[str, Any]:
    if row["training_mode"] != "expert" or not row["params"]:
        return {}
    return json.loads(row["params"])


def model_json(row: sqlite3.Row, checkpoints: list[int], *, include_training: bool = True,
               with_updated: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "training_mode": row["training_mode"],
        "project_id": row["project_id"],
    }
    if row["dataset_id"] is not None:
        data["dataset_id"] = row["dataset_id"]
    data["created_at"] = iso(row["created_at"])
    if with_updated:
        data["updated_at"] = iso(row["updated_at"])
    data["custom_metadata"] = row["custom_metadata"]
    data["active_model_version"] = row["active_model_version"]
    if include_training:
        data["training_parameters"] = model_params(row)
        visible = checkpoints if row["training_mode"] == "expert" else []
        data["checkpoint_steps"] = [str(step) for step in sorted(visible, reverse=True)]
    return data


def checkpoint_json(model_id: int, step: int, created_at: float) -> dict[str, Any]:
    return {"checkpoint_step": step, "training_job_id": model_id, "created_at": iso(created_at)}
