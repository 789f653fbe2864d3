"""Advanced datasets: staged or served zips, asynchronous progress, failed images, the one bulk
upload per dataset, and the dataset download."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sandbox_api import TG, Api, png_bytes, zip_of


@pytest.fixture
def advanced(api: Api) -> dict:
    return api.dataset(api.project()["id"], upload_type="advanced")


def _stage(api: Api, name: str, data: bytes) -> str:
    staged = api.put(f"/_sandbox/staging/{name}", content=data, token=None)
    assert staged.status_code == 201
    assert staged.json()["size"] == len(data)
    return staged.json()["url"]


def _status(api: Api, dataset_id: int) -> dict:
    return api.get(f"{TG}/datasets/{dataset_id}/images/bulk-upload/status").json()


def test_staging_stores_and_serves_bytes(api: Api) -> None:
    url = _stage(api, "blob.bin", b"abc" * 1000)
    assert api.get(url, token=None).content == b"abc" * 1000
    assert api.put("/_sandbox/staging/..%2Fescape", content=b"x", token=None).status_code in (400, 404)


def test_bulk_upload_progresses_on_the_clock(api: Api, advanced: dict) -> None:
    members = {f"pose-{i:02}.png": png_bytes(colour=(i * 10, 20, 30)) for i in range(10)}
    url = _stage(api, "poses.zip", zip_of(members))
    started = api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url})
    assert started.status_code == 202
    assert _status(api, advanced["id"])["status"] == "pending"
    api.advance(0.1 + 0.002 * 4)
    halfway = _status(api, advanced["id"])
    assert halfway["status"] == "processing" and halfway["done"] == 4 and halfway["progress_percentage"] == 40
    assert len(api.get(f"{TG}/datasets/{advanced['id']}/images").json()) == 4
    api.advance(1)
    done = _status(api, advanced["id"])
    assert done == {"status": "completed", "progress_percentage": 100, "total_processed": 10, "done": 10,
                    "failed": 0, "failed_images": []}
    names = sorted(i["image_name"] for i in api.get(f"{TG}/datasets/{advanced['id']}/images").json())
    assert names == sorted(members)


def test_bulk_upload_reports_failed_images(api: Api, advanced: dict) -> None:
    members = {"good-1.png": png_bytes(), "good-2.png": png_bytes(colour=(1, 2, 3)),
               "small.png": png_bytes((512, 512)), "notes.txt": b"not an image"}
    url = _stage(api, "mixed.zip", zip_of(members))
    api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url})
    api.advance(1)
    status = _status(api, advanced["id"])
    assert (status["status"], status["done"], status["failed"]) == ("completed", 2, 2)
    failures = {f["filename"]: f["error_code"] for f in status["failed_images"]}
    assert failures == {"small.png": 412, "notes.txt": 415}


def test_bulk_upload_with_no_usable_image_fails(api: Api, advanced: dict) -> None:
    url = _stage(api, "bad.zip", zip_of({"a.txt": b"x", "b.png": png_bytes((300, 300))}))
    api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url})
    api.advance(1)
    assert _status(api, advanced["id"])["status"] == "failed"


def test_only_one_bulk_upload_per_dataset_ever(api: Api, advanced: dict) -> None:
    url = _stage(api, "one.zip", zip_of({"a.png": png_bytes()}))
    assert api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url}).status_code == 202
    api.advance(1)
    again = api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url})
    assert again.status_code == 400 and "one bulk upload" in again.json()["message"]


def test_bulk_upload_rules(api: Api, advanced: dict) -> None:
    basic = api.dataset(api.project()["id"])
    url = _stage(api, "r.zip", zip_of({"a.png": png_bytes()}))
    assert api.post(f"{TG}/datasets/{basic['id']}/images/bulk-upload", json={"zip_url": url}).status_code == 400
    assert api.get(f"{TG}/datasets/{basic['id']}/images/bulk-upload/status").status_code == 400
    assert api.get(f"{TG}/datasets/{advanced['id']}/images/bulk-upload/status").status_code == 404
    assert api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={}).status_code == 400
    not_zip = _stage(api, "not.zip", b"plain text")
    assert api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": not_zip}).status_code == 400
    missing = url.replace("r.zip", "missing.zip")
    assert api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": missing}).status_code == 400
    # refused attempts do not count as the dataset's one bulk upload
    assert api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url}).status_code == 202


def test_zip_with_more_than_5000_images_is_refused(api: Api, advanced: dict) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(5001):
            archive.writestr(f"{i}.png", b"")
    url = _stage(api, "huge.zip", out.getvalue())
    refused = api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url})
    assert refused.status_code == 400 and "5000" in refused.json()["message"]


def test_bulk_upload_fetches_zip_from_a_local_http_server(api: Api, advanced: dict, image_server) -> None:
    base, files = image_server
    files["/data/set.zip"] = zip_of({"x.png": png_bytes(), "y.png": png_bytes(colour=(9, 9, 9))})
    assert api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload",
                    json={"zip_url": f"{base}/data/set.zip"}).status_code == 202
    api.advance(1)
    assert _status(api, advanced["id"])["done"] == 2


def test_completion_waits_for_the_bulk_upload(api: Api, advanced: dict) -> None:
    api.put(f"{TG}/datasets/{advanced['id']}", json={"visual_schema": api.schema_for()})
    url = _stage(api, "six.zip", zip_of({f"{i}.png": png_bytes(colour=(i, i, i)) for i in range(6)}))
    api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": url})
    api.advance(0.1 + 0.002 * 5)
    assert api.put(f"{TG}/datasets/{advanced['id']}", json={"status": "completed"}).status_code == 409
    api.advance(1)
    assert api.put(f"{TG}/datasets/{advanced['id']}", json={"status": "completed"}).status_code == 200


def test_advanced_dataset_download_serves_a_zip_and_captions(api: Api, advanced: dict) -> None:
    api.put(f"{TG}/datasets/{advanced['id']}", json={"visual_schema": api.schema_for()})
    members = {f"{i}.png": png_bytes(colour=(i, 40, 40)) for i in range(3)}
    api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload", json={"zip_url": _stage(api, "d.zip", zip_of(members))})
    api.advance(1)
    body = api.get(f"/v1/datasets/{advanced['id']}/download").json()
    archive = zipfile.ZipFile(io.BytesIO(api.get(body["download_url"], token=None).content))
    assert sorted(archive.namelist()) == sorted(members)
    assert archive.read("1.png") == members["1.png"]
    captions = api.get(body["captions_url"], token=None).json()
    assert captions["emulated"] is True and len(captions["captions"]) == 3
    tampered = body["download_url"].replace(body["download_url"].rsplit("-", 1)[1], "0" * 20 + ".zip")
    assert api.get(tampered, token=None).status_code == 404


def test_download_has_no_captions_url_when_a_caption_is_manual(api: Api, advanced: dict) -> None:
    api.put(f"{TG}/datasets/{advanced['id']}", json={"visual_schema": api.schema_for()})
    api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload",
             json={"zip_url": _stage(api, "m.zip", zip_of({"a.png": png_bytes()}))})
    api.advance(1)
    image = api.get(f"{TG}/datasets/{advanced['id']}/images").json()[0]
    api.put(f"{TG}/datasets/{advanced['id']}/images/{image['id']}", json={"caption": json.dumps({"x": 1})})
    assert "captions_url" not in api.get(f"/v1/datasets/{advanced['id']}/download").json()


def test_deleting_an_advanced_dataset_discards_its_zip(api: Api, app, advanced: dict) -> None:
    api.post(f"{TG}/datasets/{advanced['id']}/images/bulk-upload",
             json={"zip_url": _stage(api, "gone.zip", zip_of({"a.png": png_bytes()}))})
    api.advance(1)
    zips = app.state.sandbox.blobs.root / "zips"
    assert len(list(zips.iterdir())) == 1
    assert api.delete(f"{TG}/datasets/{advanced['id']}").status_code == 204
    assert list(zips.iterdir()) == []
