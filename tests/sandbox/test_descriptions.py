"""Emulated structured text: derived from real pixels and the given words, deterministic, and
labelled as emulated."""

from __future__ import annotations

import json

from sandbox_api import TG, Api, b64, png_bytes

from bria_pipeline.sandbox import descriptions


def _schema(api: Api, colours: list[tuple[int, int, int]], size=(300, 200)) -> dict:
    images = [b64(png_bytes(size, c)) for c in colours]
    response = api.post(f"{TG}/generate_visual_schema", json={"images": images})
    assert response.status_code == 200, response.text
    return json.loads(response.json()["visual_schema"])


def test_visual_schema_is_derived_from_the_sample_pixels(api: Api) -> None:
    reds = _schema(api, [(220, 30, 30)] * 5)
    blues = _schema(api, [(30, 60, 220)] * 5, size=(200, 300))
    assert reds["emulated"] is True and "emulated" in reds["generator"]
    assert reds["colors"]["palette"][0] == "red" and blues["colors"]["palette"][0] == "blue"
    assert reds["image_sizes"] == ["300x200"] * 5
    assert (reds["style"]["orientation"], blues["style"]["orientation"]) == ("landscape", "portrait")


def test_visual_schema_is_deterministic(api: Api) -> None:
    colours = [(i * 40, 100, 100) for i in range(6)]
    assert _schema(api, colours) == _schema(api, colours)


def test_visual_schema_needs_five_to_ten_supported_images(api: Api) -> None:
    four = [b64(png_bytes((64, 64)))] * 4
    assert api.post(f"{TG}/generate_visual_schema", json={"images": four}).status_code == 400
    assert api.post(f"{TG}/generate_visual_schema", json={"images": four * 3}).status_code == 400
    bad = four + [b64(b"not an image")]
    assert api.post(f"{TG}/generate_visual_schema", json={"images": bad}).status_code == 415


def test_visual_schema_reads_the_sandbox_own_image_urls(api: Api) -> None:
    dataset = api.dataset(api.project()["id"])
    urls = [api.upload(dataset["id"], png_bytes(colour=(200, 200, 0))).json()["image_url"] for _ in range(5)]
    schema = json.loads(api.post(f"{TG}/generate_visual_schema", json={"images": urls}).json()["visual_schema"])
    assert schema["colors"]["palette"][0] == "yellow"
    assert schema["image_sizes"] == ["1024x1024"] * 5


def test_refinement_applies_instructions_deterministically_and_records_them() -> None:
    schema = json.dumps({"style": {"description": "flat"}, "background": {"color": "blue background"},
                         "colors": {"palette": ["purple", "blue background"]}})
    refined = json.loads(descriptions.refine(schema, "The character's name is Lucy"))
    assert refined["name"] == "Lucy" and refined["emulated"] is True
    assert refined["refinements"][-1]["instruction"] == "The character's name is Lucy"
    removed = json.loads(descriptions.refine(json.dumps(refined), "Remove references to the blue background"))
    assert removed["colors"]["palette"] == ["purple"]
    assert "blue background" not in json.dumps({k: v for k, v in removed.items() if k != "refinements"})
    assert len(removed["refinements"]) == 2
    changed = json.loads(descriptions.refine(schema, "Change the style to 'realistic 3D render' and add a red hat"))
    assert changed["style"]["description"] == "realistic 3D render"
    assert changed["additions"] == ["a red hat"]
    noted = json.loads(descriptions.refine(schema, "Be more poetic"))
    assert noted["notes"] == ["Be more poetic"]
    assert descriptions.refine(schema, "Remove references to the blue background") == \
        descriptions.refine(schema, "Remove references to the blue background")


def test_captions_follow_the_visual_schema(api: Api) -> None:
    dataset = api.dataset(api.project()["id"])
    schema = json.dumps({"name": "Lucy", "style": {"description": "watercolour"}})
    api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": schema})
    image = api.upload(dataset["id"], png_bytes(colour=(30, 160, 60)), image_name="lucy-01.png").json()
    caption = json.loads(image["caption"])
    assert (caption["subject"], caption["style"], caption["colors"][0]) == ("Lucy", "watercolour", "green")
    api.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": json.dumps({"name": "Lucy B"})})
    api.put(f"{TG}/datasets/{dataset['id']}/images")
    api.advance(1)
    regenerated = json.loads(api.get(f"{TG}/datasets/{dataset['id']}/images/{image['id']}").json()["caption"])
    assert regenerated["subject"] == "Lucy B"
