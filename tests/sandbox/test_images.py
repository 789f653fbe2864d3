"""Basic uploads: body forms, format by content, size and resolution rules, the 200-image cap,
captions, manual caption edits."""

from __future__ import annotations

import base64
import io
import json

import pytest
from sandbox_api import TG, Api, b64, png_bytes
from PIL import Image


@pytest.fixture
def draft(api: Api) -> dict:
    return api.dataset(api.project()["id"])


def test_upload_accepts_base64_and_data_urls(api: Api, draft: dict) -> None:
    plain = api.upload(draft["id"], png_bytes(), image_name="plain.png")
    data_url = api.post(f"{TG}/datasets/{draft['id']}/images",
                        json={"file": "data:image/png;base64," + b64(png_bytes()), "image_name": "data-url.png"})
    assert plain.status_code == 201 and data_url.status_code == 201
    assert data_url.json()["image_name"] == "data-url.png"


def test_upload_accepts_multipart_files(api: Api, draft: dict) -> None:
    response = api.post(f"{TG}/datasets/{draft['id']}/images",
                        files={"file": ("from-form.png", png_bytes(), "image/png")},
                        data={"increase_resolution": "false"})
    assert response.status_code == 201
    assert response.json()["image_name"] == "from-form.png"


def test_upload_fetches_image_url(api: Api, draft: dict, image_server) -> None:
    base, files = image_server
    files["/pics/pose-01.png"] = png_bytes()
    response = api.post(f"{TG}/datasets/{draft['id']}/images", json={"image_url": f"{base}/pics/pose-01.png"})
    assert response.status_code == 201
    assert response.json()["image_name"] == "pose-01.png"
    full = api.get(f"{TG}/datasets/{draft['id']}").json()["images"][0]
    assert full["upload_source_url"] == f"{base}/pics/pose-01.png"
    missing = api.post(f"{TG}/datasets/{draft['id']}/images", json={"image_url": f"{base}/nothing.png"})
    assert missing.status_code == 422


def test_upload_needs_exactly_one_source(api: Api, draft: dict) -> None:
    assert api.post(f"{TG}/datasets/{draft['id']}/images", json={"image_name": "x.png"}).status_code == 400
    both = {"file": b64(png_bytes()), "image_url": "http://127.0.0.1:9/x.png"}
    assert api.post(f"{TG}/datasets/{draft['id']}/images", json=both).status_code == 400
    assert api.post(f"{TG}/datasets/{draft['id']}/images", json={"file": "%%% not base64"}).status_code == 400


def test_format_is_judged_by_content_not_by_name(api: Api, draft: dict) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (1024, 1024)).save(gif, format="GIF")
    assert api.upload(draft["id"], gif.getvalue(), image_name="looks-like.png").status_code == 415
    assert api.upload(draft["id"], b"hello, not an image").status_code == 415
    jpeg_named_png = api.upload(draft["id"], png_bytes(fmt="JPEG"), image_name="really-a-jpeg.png")
    assert jpeg_named_png.status_code == 201
    assert jpeg_named_png.json()["image_url"].endswith(".jpg")
    assert api.upload(draft["id"], png_bytes(fmt="WEBP")).status_code == 201


def test_images_over_12_mb_are_refused_with_413(api: Api, draft: dict) -> None:
    big = png_bytes() + b"\0" * (12 * 1024 * 1024)
    assert api.upload(draft["id"], big).status_code == 413


def test_resolution_rules_with_and_without_increase_resolution(api: Api, draft: dict) -> None:
    assert api.upload(draft["id"], png_bytes((1024, 1023)), increase_resolution=False).status_code == 412
    assert api.upload(draft["id"], png_bytes((255, 800))).status_code == 412
    assert api.upload(draft["id"], png_bytes((1024, 1024)), increase_resolution=False).status_code == 201
    upscaled = api.upload(draft["id"], png_bytes((256, 512)))
    assert upscaled.status_code == 201
    stored = Image.open(io.BytesIO(api.get(upscaled.json()["image_url"], token=None).content))
    assert stored.size == (1024, 2048)


def test_transparent_pixels_become_black(api: Api, draft: dict) -> None:
    response = api.upload(draft["id"], png_bytes(mode="RGBA"))
    stored = Image.open(io.BytesIO(api.get(response.json()["image_url"], token=None).content)).convert("RGB")
    assert stored.getpixel((10, 10)) == (0, 0, 0)


def test_content_moderation_refuses_flagged_images_with_422(api: Api, draft: dict) -> None:
    flagged = png_bytes(text={"comment": "nsfw"})
    assert api.upload(draft["id"], flagged, content_moderation=True).status_code == 422
    assert api.upload(draft["id"], flagged).status_code == 201


def test_basic_dataset_holds_at_most_200_images(api: Api, draft: dict) -> None:
    small = png_bytes((1024, 1024), (5, 5, 5))
    for _ in range(200):
        assert api.upload(draft["id"], small).status_code == 201
    refused = api.upload(draft["id"], small)
    assert refused.status_code == 409 and "200" in refused.json()["message"]


def test_basic_upload_is_refused_for_advanced_datasets(api: Api) -> None:
    advanced = api.dataset(api.project()["id"], upload_type="advanced")
    assert api.upload(advanced["id"]).status_code == 400


def test_upload_caption_is_null_without_schema_and_derived_from_schema_and_pixels_with_one(api: Api, draft: dict) -> None:
    before = api.upload(draft["id"], png_bytes(colour=(250, 250, 250))).json()
    assert before["caption"] is None and before["caption_source"] is None
    api.put(f"{TG}/datasets/{draft['id']}", json={"visual_schema": api.schema_for()})
    red = json.loads(api.upload(draft["id"], png_bytes(colour=(220, 30, 30)), image_name="red.png").json()["caption"])
    blue = json.loads(api.upload(draft["id"], png_bytes(colour=(30, 60, 220)), image_name="blue.png").json()["caption"])
    assert red["emulated"] is True and red["source_image"] == "red.png"
    assert red["colors"][0] == "red" and blue["colors"][0] == "blue"


def test_manual_caption_needs_valid_json_and_excludes_regeneration(api: Api, draft: dict) -> None:
    api.put(f"{TG}/datasets/{draft['id']}", json={"visual_schema": api.schema_for()})
    image = api.upload(draft["id"]).json()
    url = f"{TG}/datasets/{draft['id']}/images/{image['id']}"
    assert api.put(url, json={"caption": "purple hair"}).status_code == 400
    assert api.put(url, json={"caption": "{}", "regenerate_caption": True}).status_code == 400
    assert api.put(url, json={}).status_code == 400
    manual = api.put(url, json={"caption": json.dumps({"hair": "purple"})}).json()
    assert (manual["caption"], manual["caption_source"]) == ('{"hair": "purple"}', "manual")
    regenerated = api.put(url, json={"regenerate_caption": True}).json()
    assert regenerated["caption_source"] == "automatic" and regenerated["caption"] == image["caption"]


def test_get_and_delete_image(api: Api, draft: dict) -> None:
    image = api.upload(draft["id"]).json()
    url = f"{TG}/datasets/{draft['id']}/images/{image['id']}"
    assert api.get(url).json()["image_name"] == image["image_name"]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.get(f"{TG}/datasets/{draft['id']}/images/not-a-number").status_code == 404


def test_base64_body_round_trips_the_exact_bytes(api: Api, draft: dict) -> None:
    data = png_bytes((1024, 1024), (12, 34, 56))
    image = api.upload(draft["id"], data).json()
    assert api.get(image["image_url"], token=None).content == data
    assert base64.b64decode(b64(data)) == data
