"""schemas/decisions.schema.json: identical to the packaged copy, valid 2020-12, and what it accepts
is what `bria-pipeline validate` accepts in a decisions file (editors and the tool agree)."""

from __future__ import annotations

import json

import yaml
from jsonschema import Draft202012Validator

from spec_helpers import REPO

SCHEMA_FILE = REPO / "schemas" / "decisions.schema.json"
PACKAGED = REPO / "bria_pipeline" / "data" / "decisions.schema.json"

GOOD = """\
version: 1
outputs:
  generation.places[beach-dawn-seed1]:
    decision: approve
    key: 3fa2c1d9e0b71234
    note: on brand
  generation.places[city-night-seed2]:
    decision: reject
    regenerate: true
images:
  lucy:
    images/pose-06.png:
      exclude: true
      reason: the hands are wrong
    images/pose-05.png:
      caption: '{"subject": "Lucy"}'
"""


def test_repository_and_packaged_schema_are_identical_and_valid() -> None:
    assert SCHEMA_FILE.read_bytes() == PACKAGED.read_bytes()
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["$id"]


def test_the_schema_accepts_a_full_file_and_names_what_is_wrong() -> None:
    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
    bad = yaml.safe_load(GOOD.replace("decision: approve", "decision: fine").replace("note:", "notes:"))
    found = sorted(e.message for e in validator.iter_errors(bad))
    assert found == ["'fine' is not one of ['approve', 'reject']",
                     "Additional properties are not allowed ('notes' was unexpected)"]
