"""Dataset rules: schema editable only in draft, completion requirements, frozen completed
datasets, clone as draft, asynchronous regeneration of all captions."""

from __future__ import annotations

import json

from sandbox_api import TG, Api, png_bytes


def _draft_with_images(api: Api, count: int, *, schema: bool = True) -> dict:
    dataset = api.dataset(api.project()["id"])
    if schema:
        api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": api.schema_for()})
    for i in range(count):
        assert api.upload(dataset["id"], png_bytes(colour=(i * 20, 50, 90)), image_name=f"p{i}.png").status_code == 201
    return dataset


def test_new_dataset_is_a_draft_with_empty_captions_status(api: Api) -> None:
    dataset = api.dataset(api.project()["id"])
    assert (dataset["status"], dataset["captions_update_status"], dataset["visual_schema"]) == ("draft", "empty", None)
    assert dataset["upload_type"] == "basic"


def test_dataset_for_unknown_project_is_404_and_missing_fields_are_400(api: Api) -> None:
    assert api.post(f"{TG}/datasets", json={"project_id": 999, "name": "x"}).status_code == 404
    missing = api.post(f"{TG}/datasets", json={"name": "x"})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field_name"] == "project_id"
    assert api.post(f"{TG}/datasets", json={"project_id": "ten", "name": "x"}).status_code == 400
    assert api.post(f"{TG}/datasets", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400


def test_completing_needs_five_images(api: Api) -> None:
    dataset = _draft_with_images(api, 4)
    refused = api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"})
    assert refused.status_code == 409
    assert "at least 5" in refused.json()["message"]
    api.upload(dataset["id"], png_bytes(colour=(1, 1, 1)))
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"}).json()["status"] == "completed"


def test_completing_needs_a_visual_schema(api: Api) -> None:
    dataset = _draft_with_images(api, 5, schema=False)
    refused = api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"})
    assert refused.status_code == 409 and "visual_schema" in refused.json()["message"]


def test_images_uploaded_before_the_schema_need_regenerated_captions_before_completion(api: Api) -> None:
    dataset = _draft_with_images(api, 5, schema=False)
    images = api.get(f"{TG}/datasets/{dataset['id']}/images").json()
    assert all("caption" not in image for image in images)
    api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": api.schema_for()})
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"}).status_code == 409
    started = api.put(f"{TG}/datasets/{dataset['id']}/images")
    assert started.status_code == 202 and started.json()["captions_update_status"] == "in_progress"
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"}).status_code == 409
    api.advance(1)
    assert api.get(f"{TG}/datasets/{dataset['id']}").json()["captions_update_status"] == "completed"
    images = api.get(f"{TG}/datasets/{dataset['id']}/images").json()
    assert all(json.loads(image["caption"])["emulated"] is True for image in images)
    assert {image["caption_source"] for image in images} == {"automatic"}
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"}).status_code == 200


def test_caption_regeneration_waits_for_the_clock(api: Api) -> None:
    dataset = _draft_with_images(api, 5)
    api.put(f"{TG}/datasets/{dataset['id']}/images")
    api.advance(0.1)
    assert api.get(f"{TG}/datasets/{dataset['id']}").json()["captions_update_status"] == "in_progress"
    api.advance(0.2)
    assert api.get(f"{TG}/datasets/{dataset['id']}").json()["captions_update_status"] == "completed"


def test_visual_schema_is_editable_in_draft_only(api: Api) -> None:
    dataset = _draft_with_images(api, 5)
    first = api.get(f"{TG}/datasets/{dataset['id']}").json()["visual_schema"]
    changed = json.dumps({"style": "flat"})
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": changed}).status_code == 200
    api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": first})
    api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"})
    refused = api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": changed})
    assert refused.status_code == 409
    assert api.get(f"{TG}/datasets/{dataset['id']}").json()["visual_schema"] == first
    renamed = api.put(f"{TG}/datasets/{dataset['id']}", json={"name": "still allowed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "still allowed"


def test_visual_schema_must_be_json_text(api: Api) -> None:
    dataset = api.dataset(api.project()["id"])
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": "style: flat"}).status_code == 400


def test_completed_dataset_is_frozen(api: Api) -> None:
    _, dataset = api.completed_dataset()
    image = api.get(f"{TG}/datasets/{dataset['id']}/images").json()[0]
    assert api.upload(dataset["id"]).status_code == 409
    assert api.put(f"{TG}/datasets/{dataset['id']}/images/{image['id']}", json={"caption": "{}"}).status_code == 409
    assert api.put(f"{TG}/datasets/{dataset['id']}/images/{image['id']}",
                   json={"regenerate_caption": True}).status_code == 409
    assert api.delete(f"{TG}/datasets/{dataset['id']}/images/{image['id']}").status_code == 409
    assert api.put(f"{TG}/datasets/{dataset['id']}", json={"status": "draft"}).status_code == 409
    assert api.put(f"{TG}/datasets/{dataset['id']}/images").status_code == 403
    assert len(api.get(f"{TG}/datasets/{dataset['id']}/images").json()) == 5


def test_clone_is_a_draft_with_the_schema_and_copies_of_the_images(api: Api) -> None:
    _, dataset = api.completed_dataset()
    clone = api.post(f"{TG}/datasets/{dataset['id']}/clone")
    assert clone.status_code == 201
    body = clone.json()
    assert body["status"] == "draft" and body["name"] == f"Copy of {dataset['name']}"
    assert body["visual_schema"] == dataset["visual_schema"]
    source_images = api.get(f"{TG}/datasets/{dataset['id']}/images").json()
    assert body["images_count"] == 5
    assert [i["image_name"] for i in body["images"]] == [i["image_name"] for i in source_images]
    assert {i["id"] for i in body["images"]}.isdisjoint({i["id"] for i in source_images})
    assert [i["caption"] for i in body["images"]] == [i["caption"] for i in source_images]
    # the copy is independent: editing it leaves the frozen source alone
    first = body["images"][0]
    assert api.delete(f"{TG}/datasets/{body['id']}/images/{first['id']}").status_code == 204
    assert len(api.get(f"{TG}/datasets/{dataset['id']}/images").json()) == 5
    named = api.post(f"{TG}/datasets/{dataset['id']}/clone", json={"name": "lucy-v2"}).json()
    assert named["name"] == "lucy-v2"


def test_get_dataset_limits_images_with_max_images(api: Api) -> None:
    dataset = _draft_with_images(api, 6)
    body = api.get(f"{TG}/datasets/{dataset['id']}", params={"max_images": 2}).json()
    assert body["images_count"] == 6 and len(body["images"]) == 2
    assert api.get(f"{TG}/datasets/{dataset['id']}", params={"max_images": 0}).status_code == 400
    assert api.get(f"{TG}/datasets/{dataset['id']}", params={"max_images": 201}).status_code == 400


def test_project_datasets_can_include_their_models(api: Api) -> None:
    project, dataset = api.completed_dataset()
    model = api.post(f"{TG}/models", json={"name": "m", "dataset_id": dataset["id"]}).json()
    listed = api.get(f"{TG}/projects/{project['id']}/datasets",
                     params={"include_models": "true", "include_models_ids": "true"}).json()
    assert listed[0]["model_ids"] == [str(model["id"])]
    assert listed[0]["models"][0]["id"] == model["id"]
    plain = api.get(f"{TG}/projects/{project['id']}/datasets").json()
    assert "models" not in plain[0] and "model_ids" not in plain[0]


def test_deleting_a_dataset_removes_it_and_its_images(api: Api) -> None:
    dataset = _draft_with_images(api, 2)
    assert api.delete(f"{TG}/datasets/{dataset['id']}").status_code == 204
    assert api.get(f"{TG}/datasets/{dataset['id']}").status_code == 404
    assert api.get(f"{TG}/datasets/{dataset['id']}/images").status_code == 404


def test_refine_needs_a_draft_dataset_of_the_caller(api: Api, ) -> None:
    _, completed = api.completed_dataset()
    body = {"dataset_id": completed["id"], "structured_prompt": "{}", "instruction": "Add a hat"}
    assert api.post(f"{TG}/refine_structured_prompt", json=body).status_code == 400
    assert api.as_token("someone-else").post(f"{TG}/refine_structured_prompt", json=body).status_code == 404
    draft = api.dataset(api.project()["id"])
    assert api.post(f"{TG}/refine_structured_prompt", json={**body, "dataset_id": draft["id"],
                                                            "structured_prompt": "not json"}).status_code == 400
