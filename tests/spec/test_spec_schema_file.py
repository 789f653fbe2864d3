"""schemas/spec.schema.json: complete, documented, identical to the packaged copy, true to the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from jsonschema import Draft202012Validator

from bria_pipeline.spec.schema import spec_schema
from bria_pipeline.spec.yaml_source import read_document
from spec_helpers import CONTRACT, REPO

SCHEMA_FILE = REPO / "schemas" / "spec.schema.json"
PACKAGED = REPO / "bria_pipeline" / "data" / "spec.schema.json"


def _objects(node: Any, where: str = "#") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


def test_repository_and_packaged_schema_are_identical() -> None:
    assert SCHEMA_FILE.read_bytes() == PACKAGED.read_bytes()


def test_schema_is_valid_2020_12_with_an_id() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["$id"]
    assert spec_schema() == schema


def test_every_property_has_a_description_and_no_object_takes_unknown_keys() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    objects = list(_objects(schema))
    assert len(objects) > 10
    for where, obj in objects:
        assert obj.get("additionalProperties") is False, where
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{where}/properties/{name}"


def _contract_body(path: str) -> dict[str, Any]:
    contract = yaml.safe_load(CONTRACT.read_text())
    return contract["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]


@pytest.mark.skipif(not CONTRACT.exists(), reason="the API contract (../shared) is not beside the repository")
def test_enums_and_ranges_are_the_contracts() -> None:
    defs = spec_schema()["$defs"]
    training = _contract_body("/tailored-gen/models/{model_id}/start_training")
    for name, prop in defs["training"]["properties"].items():
        for key in ("minimum", "maximum", "enum"):
            assert prop.get(key) == training[name].get(key), (name, key)
    generate = _contract_body("/image/generate/tailored")
    for name, prop in defs["generate"]["properties"]["defaults"]["properties"].items():
        for key in ("minimum", "maximum", "enum"):
            assert prop.get(key) == generate[name].get(key), (name, key)
        assert defs["prompt_set"]["properties"][name] == prop
    project = _contract_body("/tailored-gen/projects")
    for name in ("ip_type", "ip_medium"):
        assert defs["project"]["properties"][name]["enum"] == project[name]["enum"]


@pytest.mark.parametrize("spec", sorted((REPO / "specs").glob("*.yaml")) + [REPO / "examples" / "lucy" / "spec.yaml"],
                         ids=lambda p: p.parent.name + "/" + p.name)
def test_recipes_and_example_match_the_schema_and_point_editors_at_it(spec: Path) -> None:
    doc, problems = read_document(spec, str(spec))
    assert not problems
    errors = list(Draft202012Validator(spec_schema()).iter_errors(doc.data))
    assert errors == []
    first = spec.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (spec.parent / first.split("=", 1)[1]).resolve() == SCHEMA_FILE.resolve()
