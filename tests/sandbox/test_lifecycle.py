"""The happy path through the whole API, as a client sees it."""

from __future__ import annotations

from sandbox_api import Api, png_bytes


def test_project_dataset_images_model_training_and_generation_flow(api: Api) -> None:
    model = api.trained_model(mode="expert", params={"total_training_steps": 1000, "checkpoint_interval": 500})
    assert model["checkpoint_steps"] == ["1000", "500"]
    assert model["active_model_version"] == "1000"
    response = api.post("/v2/image/generate/tailored",
                        json={"tailored_model_id": str(model["id"]), "prompt": "Lucy at the beach", "sync": True})
    assert response.status_code == 200
    result = response.json()["result"]
    image = api.get(result["image_url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_ids_are_integers_and_timestamps_are_iso_8601(api: Api) -> None:
    project = api.project()
    dataset = api.dataset(project["id"])
    assert isinstance(project["id"], int) and isinstance(dataset["id"], int)
    assert dataset["project_id"] == project["id"]
    assert project["created_at"].endswith("Z") and "T" in project["created_at"]


def test_uploaded_image_is_served_at_its_image_url_and_thumbnail_url(api: Api) -> None:
    dataset = api.dataset(api.project()["id"])
    image = api.upload(dataset["id"], png_bytes((1024, 1024))).json()
    full = api.get(image["image_url"], token=None)
    thumb = api.get(image["thumbnail_url"], token=None)
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    assert thumb.status_code == 200 and len(thumb.content) < len(full.content)
