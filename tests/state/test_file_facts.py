"""Facts of the output files on disk (state/file_facts.py): what observing finds, read through
the manifest as the planner reads it. Partial files are never complete; a changed file is hashed
again; an unchanged one (size and mtime) is not read."""

from __future__ import annotations

import os

from bria_pipeline.atomic import sweep_partial_files, temp_path_for, write_atomic
from bria_pipeline.generate.outputs import expand_outputs
from bria_pipeline.plan.generation_steps import plan_generation
from bria_pipeline.state.file_facts import FileState, observe_files, placed
from bria_pipeline.state.hashing import sha256_bytes
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord

RECORD = {"kind": "image", "name": "places/beach-seed1", "set_name": "places", "model": "lucy-lora"}


def test_a_leftover_partial_download_is_not_treated_as_complete(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    models = build.models()
    out = expand_outputs(gen, models).images[0]
    manifest = Manifest(build.out)
    manifest.record_pending(out.key, "req-9", **out.record_fields())
    # A run killed mid-download leaves the bytes under a hidden temp name only.
    final = build.out / "places" / "beach-seed1.png"
    final.parent.mkdir(parents=True)
    partial = temp_path_for(final)
    partial.write_bytes(b"\x89PNG half")
    again = Manifest.load(build.out)
    assert not again.is_complete(out.key)
    (action, _) = plan_generation(gen, models, again, {}, prune=False)
    assert (action.kind, action.step.request_id) == ("wait", "req-9")
    assert sweep_partial_files(build.out) == [partial]
    assert not final.exists()


def test_a_file_at_the_final_name_without_a_done_record_is_not_complete(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    models = build.models()
    out = expand_outputs(gen, models).images[0]
    manifest = Manifest(build.out)
    manifest.record_pending(out.key, "req-9", **out.record_fields())
    write_atomic(build.out / "places" / "beach-seed1.png", b"renamed, but never recorded done")
    assert not Manifest.load(build.out).is_complete(out.key)


def test_a_changed_file_is_not_complete_and_its_hash_is_recomputed(tmp_path):
    manifest = Manifest(tmp_path)
    write_atomic(tmp_path / "a.png", b"original")
    manifest.record_pending("k1", "r", **RECORD)
    manifest.record_done("k1", file="a.png", sha256=sha256_bytes(b"original"))
    assert Manifest.load(tmp_path).is_complete("k1")
    (tmp_path / "a.png").write_bytes(b"edited by hand")
    again = Manifest.load(tmp_path)
    assert not again.is_complete("k1")
    assert again.files["a.png"].sha256 == sha256_bytes(b"edited by hand")


def test_observe_trusts_the_recorded_hash_while_size_and_mtime_are_unchanged(tmp_path):
    manifest = Manifest(tmp_path)
    write_atomic(tmp_path / "a.png", b"original")
    manifest.record_pending("k1", "r", **RECORD)
    record = manifest.record_done("k1", file="a.png", sha256=sha256_bytes(b"original"))
    # Same size, same mtime: not read again (the cost of a no-op plan is a stat per file).
    (tmp_path / "a.png").write_bytes(b"ORIGINAL")
    os.utime(tmp_path / "a.png", ns=(record.mtime_ns, record.mtime_ns))
    assert Manifest.load(tmp_path).files["a.png"].sha256 == sha256_bytes(b"original")


def test_observing_leaves_out_what_is_not_a_regular_file_and_reads_placed_facts(tmp_path):
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "dir.png").mkdir()
    records = [OutputRecord(key=k, file=f, **{**RECORD, "name": k}) for k, f in
               (("a", "a.png"), ("d", "dir.png"), ("gone", "gone.png"), ("none", None))]
    found = observe_files(tmp_path, records)
    assert list(found) == ["a.png"]
    st = (tmp_path / "a.png").stat()
    assert found["a.png"] == FileState(sha256_bytes(b"a"), 1, st.st_mtime_ns)
    assert placed(tmp_path / "a.png", "recorded") == FileState("recorded", 1, st.st_mtime_ns)
    assert placed(tmp_path / "gone.png", "recorded") is None
