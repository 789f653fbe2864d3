"""spec.lock.yaml: pins keyed by input hashes, stable sorted YAML, atomic, no remote ids."""

from __future__ import annotations

import pytest
import yaml
from plan_builders import SCHEMA, dataset, image, images

from bria_pipeline.lockfile import Lock, LockFileError, caption_key, load_lock, lock_path_for, save_lock
from bria_pipeline.model import StructuredPromptSpec


def test_lock_file_sits_beside_the_spec(tmp_path):
    assert lock_path_for(tmp_path / "spec.yaml") == tmp_path / "spec.lock.yaml"
    assert lock_path_for(tmp_path / "specs" / "lucy.yaml") == tmp_path / "specs" / "lucy.lock.yaml"


def test_pins_round_trip_and_are_keyed_by_their_inputs(tmp_path):
    ds = dataset()
    refined = image("images/pose-09.png", caption_refine=("Fix the hair colour",))
    prompt = StructuredPromptSpec(prompt="Lucy at the beach", refine="add sunset light", seed=3)
    lock = Lock()
    lock.pin_visual_schema(ds.visual_schema, SCHEMA)
    lock.pin_caption(refined, ds.visual_schema, '{"hair": "purple"}')
    lock.pin_structured_prompt(prompt, '{"scene": "beach"}')
    path = tmp_path / "spec.lock.yaml"
    assert save_lock(lock, path) is True
    again = load_lock(path)
    assert again.visual_schema(ds.visual_schema) == SCHEMA
    assert again.caption(refined, ds.visual_schema) == '{"hair": "purple"}'
    assert again.structured_prompt(prompt) == '{"scene": "beach"}'
    # other inputs, other keys: nothing pinned for them
    other = dataset(refine=("Remove the blue background",))
    assert again.visual_schema(other.visual_schema) is None
    assert caption_key(refined, other.visual_schema) != caption_key(refined, ds.visual_schema)


def test_lock_yaml_is_stable_sorted_and_holds_no_remote_ids(tmp_path):
    ds_a, ds_b = dataset("b-set"), dataset("a-set", images(6, "images/other"))
    one, two = Lock(), Lock()
    one.pin_visual_schema(ds_a.visual_schema, '{"a": 1}')
    one.pin_visual_schema(ds_b.visual_schema, '{"b": 2}')
    two.pin_visual_schema(ds_b.visual_schema, '{"b": 2}')
    two.pin_visual_schema(ds_a.visual_schema, '{"a": 1}')
    assert one.to_yaml() == two.to_yaml()
    data = yaml.safe_load(one.to_yaml())
    assert list(data["visual_schemas"]) == sorted(data["visual_schemas"])
    assert not [k for k in _keys(data) if k == "id" or k.endswith("_id")]
    path = tmp_path / "spec.lock.yaml"
    save_lock(one, path)
    before = path.stat().st_mtime_ns
    assert save_lock(load_lock(path), path) is False  # unchanged: not rewritten
    assert path.stat().st_mtime_ns == before
    assert not list(tmp_path.glob(".*part*"))


def test_missing_lock_is_empty_and_an_empty_lock_writes_nothing(tmp_path):
    path = tmp_path / "spec.lock.yaml"
    lock = load_lock(path)
    assert lock.as_data() == {"version": 1}
    assert save_lock(lock, path) is False and not path.exists()


def test_broken_lock_file_names_file_and_line(tmp_path):
    path = tmp_path / "spec.lock.yaml"
    path.write_text("version: 1\nvisual_schemas: [unclosed\n")
    with pytest.raises(LockFileError) as info:
        load_lock(path)
    assert f"{path}:" in str(info.value) and "not valid YAML" in str(info.value)
    path.write_text("version: 9\n")
    with pytest.raises(LockFileError, match="version 9 is not supported"):
        load_lock(path)


def test_retain_drops_pins_the_spec_no_longer_references():
    ds = dataset()
    lock = Lock()
    lock.pin_visual_schema(ds.visual_schema, SCHEMA)
    lock.pin_visual_schema(dataset(refine=()).visual_schema, "old")
    dropped = lock.retain(visual_schemas={ds.visual_schema.inputs_hash}, captions=set(), structured_prompts=set())
    assert dropped == 1 and list(lock.visual_schemas) == [ds.visual_schema.inputs_hash]


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _keys(v)


@pytest.mark.parametrize("section, entry, line, message", [
    ("captions", "    image: images/a.png\n    caption: '{\"hair\": purple}'\n", 5,
     "captions.c07e8b62aaaa: caption is not valid JSON"),
    ("structured_prompts", "    prompt: a cat\n    structured_prompt: 12\n", 5,
     "structured_prompts.c07e8b62aaaa: structured_prompt must be a non-empty text (it is int)"),
    ("visual_schemas", "    samples: [a.png]\n", 3, "visual_schemas.c07e8b62aaaa: schema must be a non-empty text"),
])
def test_a_pin_the_api_would_refuse_is_named_with_its_line(tmp_path, section, entry, line, message):
    path = tmp_path / "spec.lock.yaml"
    path.write_text(f"version: 1\n{section}:\n  c07e8b62aaaabbbb:\n{entry}")
    with pytest.raises(LockFileError) as info:
        load_lock(path)
    assert (info.value.file, info.value.line) == (path, line)
    assert info.value.reason.startswith(message) and "git checkout --" in info.value.hint
