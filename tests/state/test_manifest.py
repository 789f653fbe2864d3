"""The output manifest on real files (state/manifest.py): every change journaled before it returns,
atomic saves, a damaged file named with its line, what the last run finished seen by the next plan."""

from __future__ import annotations

import json

import pytest

from bria_pipeline.atomic import write_atomic
from bria_pipeline.state.hashing import sha256_bytes
from bria_pipeline.state.errors import ManifestError
from bria_pipeline.state.manifest import JOURNAL_FILE, MANIFEST_FILE, Manifest
from bria_pipeline.generate.outputs import expand_outputs
from bria_pipeline.plan.generation_steps import changed_actions, plan_generation

RECORD = {"kind": "image", "name": "places/beach-seed1", "set_name": "places", "model": "lucy-lora"}


def test_request_id_is_on_disk_as_soon_as_record_pending_returns(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.record_pending("k1", None, prompt="Lucy", **RECORD)
    manifest.record_pending("k1", "req-7")
    # No save(): a process killed now must still know the job to resume.
    again = Manifest.load(tmp_path)
    assert again.get("k1").request_id == "req-7"
    assert again.get("k1").status == "pending"
    assert again.get("k1").prompt == "Lucy"
    assert again.get("k1").attempts == 1


def test_save_writes_manifest_json_and_folds_the_journal_away(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.record_pending("k1", "req-1", **RECORD)
    (tmp_path / "places").mkdir()
    (tmp_path / "places" / "beach-seed1.png").write_bytes(b"png!")
    manifest.record_done("k1", file="places/beach-seed1.png", sha256=sha256_bytes(b"png!"))
    manifest.save()
    assert not (tmp_path / JOURNAL_FILE).exists()
    data = json.loads((tmp_path / MANIFEST_FILE).read_text())
    entry = data["outputs"]["k1"]
    assert data["version"] == 1
    assert entry["set"] == "places" and entry["status"] == "done" and entry["request_id"] == "req-1"
    assert entry["sha256"] == sha256_bytes(b"png!") and entry["size"] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    assert Manifest.load(tmp_path).is_complete("k1")


def test_a_torn_last_journal_line_is_ignored(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.record_pending("k1", "req-1", **RECORD)
    with open(tmp_path / JOURNAL_FILE, "ab") as fh:
        fh.write(b'{"output": {"key": "k2", "kind": "ima')
    again = Manifest.load(tmp_path)
    assert list(again.outputs) == ["k1"]
    assert "torn last line" in again.warnings[0]


def test_a_corrupt_manifest_names_its_file_and_line(tmp_path):
    (tmp_path / MANIFEST_FILE).write_text('{"version": 1,\n "outputs": {,}}\n')
    with pytest.raises(ManifestError) as err:
        Manifest.load(tmp_path)
    text = err.value.describe()
    assert f"{tmp_path / MANIFEST_FILE}:2:" in text
    assert "hint:" in text


def test_an_unknown_manifest_version_is_refused(tmp_path):
    (tmp_path / MANIFEST_FILE).write_text('{"version": 9, "outputs": {}}')
    with pytest.raises(ManifestError, match="version 9 is not supported"):
        Manifest.load(tmp_path)


def test_mark_current_retires_outputs_that_left_the_spec_and_orders_the_rest(tmp_path):
    manifest = Manifest(tmp_path)
    for key in ("a", "b", "c"):
        manifest.record_pending(key, "r", **{**RECORD, "name": key})
    assert manifest.mark_current(["c", "a"]) == 3
    again = Manifest.load(tmp_path)
    assert [(r.key, r.retired, r.order) for r in sorted(again, key=lambda r: r.key)] == [
        ("a", False, 1),
        ("b", True, None),
        ("c", False, 0),
    ]
    assert again.mark_current(["c", "a"]) == 0


def test_planning_after_load_sees_what_the_last_run_finished(build):
    gen = build.generation(build.prompt_set(seeds=(1,)))
    models = build.models()
    manifest = Manifest(build.out)
    outs = expand_outputs(gen, models).images
    for out in outs[:3]:
        manifest.record_pending(out.key, None, **out.record_fields())
        data = out.key.encode()
        write_atomic(build.out / f"{out.name}.png", data)
        manifest.record_done(out.key, file=f"{out.name}.png", sha256=sha256_bytes(data))
    changes = changed_actions(plan_generation(gen, models, Manifest.load(build.out), {}, prune=False))
    assert [a.address for a in changes] == [outs[3].address]
