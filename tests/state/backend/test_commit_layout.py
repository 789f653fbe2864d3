"""The committed layout: root.json naming immutable segments. A backend bricked by the layout
before it (a push killed between manifest.json and state.json) is read and migrated; segments
nobody names are collected and never read; merging keeps the segments few and cheap."""

from __future__ import annotations

import json
from pathlib import Path

from backend_helpers import billed, checkout, sandbox_stats, sent
from click.testing import CliRunner

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.commit import MAX_SEGMENTS, Segment, plan_merge
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.working_copy import read_committed

TOKEN = "layout-token"


def _as_old_layout(backend: Backend, *, torn: bool) -> None:
    """Rewrite a committed backend as the layout before root.json wrote it; `torn`: as a push
    killed between its manifest write and its state write left it (the state names another
    manifest version than the one there)."""
    snap = read_committed(backend)
    manifest = Manifest.from_data(Path("unused"), snap.view.as_manifest_json())
    written = backend.store.write(backend.manifest_key, manifest.as_bytes())
    state = {**snap.state, "backend": {"manifest_version": "an-older-version" if torn else written, "key": backend.key}}
    backend.store.write(backend.state_key, json.dumps(state).encode())
    backend.store.delete_many([backend.root_key, *backend.store.list(backend.objects_prefix)])


def _applied(tmp_path: Path, url: str, name: str) -> tuple[Path, str, Backend]:
    """A checkout that applied examples/lucy with a file:// backend."""
    backend_url = (tmp_path / "backend").as_uri()
    spec = checkout(tmp_path, name)
    assert Pipeline(spec, api_url=url, token=TOKEN, backend=backend_url, concurrency=10).apply(auto_approve=True).ok
    return spec, backend_url, Backend.for_spec(spec, backend_url)


def test_a_backend_bricked_by_a_torn_push_of_the_old_layout_is_read_and_migrated(tmp_path: Path, served):
    url, _app = served
    first, backend_url, backend = _applied(tmp_path, url, "first")
    _as_old_layout(backend, torn=True)
    assert backend.store.read(backend.root_key) is None

    fresh = checkout(tmp_path, "fresh", lock_from=first.parent / "spec.lock.yaml")
    assert Pipeline(fresh, backend=backend_url).state_show().old_layout == []  # still the layout in use
    pipeline = Pipeline(fresh, api_url=url, token=TOKEN, backend=backend_url)
    plan = pipeline.plan()  # before: "kept changing while it was read", forever
    assert not plan.has_changes, [(a.address, a.reason) for a in plan.changes]
    before = sandbox_stats(url)
    result = pipeline.apply(auto_approve=True)
    assert result.ok and result.requests["mutating"] == 0 and billed(sent(before, sandbox_stats(url))) == 0
    snap = read_committed(backend)  # the first commit migrated it: root.json and one segment
    assert snap.root.serial == 1 and not snap.root.legacy and len(snap.root.segments) == 1
    assert len([r for r in snap.view.outputs.values() if r["status"] == "done"]) == 10
    assert snap.root.lineage and snap.root.lineage == snap.state["lineage"]["id"]
    assert "backend" not in snap.state
    # the old objects stay (nothing in a team's bucket is deleted unasked); `state show` says what they are
    assert backend.store.read(backend.state_key) is not None and backend.store.read(backend.manifest_key) is not None
    assert Pipeline(fresh, backend=backend_url).state_show().old_layout == [backend.where("state.json"),
                                                                            backend.where("manifest.json")]
    shown = CliRunner().invoke(main, ["state", "show", str(fresh), "--backend", backend_url])
    assert shown.exit_code == 0, shown.output
    assert f"Left over: {backend.where('state.json')} (left over from the backend's layout before root.json" \
        in shown.output and f"Left over: {backend.where('manifest.json')}" in shown.output


def test_segments_no_root_names_are_never_read_and_are_collected(tmp_path: Path, served):
    url, _app = served
    spec, backend_url, backend = _applied(tmp_path, url, "runner")
    # what a run killed between its segment write and its commit leaves: an object nobody names
    orphan = backend.object_key("0" * 64 + ".json.gz")
    backend.store.write(orphan, b"not even gzip")
    committed = read_committed(backend)
    assert committed.root.serial >= 1 and orphan not in {backend.object_key(s.name) for s in committed.root.segments}
    assert not Pipeline(spec, api_url=url, token=TOKEN, backend=backend_url).plan().has_changes  # never read

    spec.write_text(spec.read_text(encoding="utf-8").replace("seeds: [1, 2]", "seeds: [1, 2, 3]"), encoding="utf-8")
    result = Pipeline(spec, api_url=url, token=TOKEN, backend=backend_url, concurrency=10).apply(auto_approve=True)
    assert result.ok
    after = read_committed(backend)
    assert after.root.serial > committed.root.serial
    assert set(backend.store.list(backend.objects_prefix)) == {backend.object_key(s.name) for s in after.root.segments}
    assert len([r for r in after.view.outputs.values() if r["status"] == "done"]) == 14


def test_merging_keeps_few_segments_and_rewrites_each_record_a_few_times():
    """10,000 commits of 3 changed records each: the root never names more than MAX_SEGMENTS
    segments, and the records written in all (new and merged) stay a small multiple of those
    committed (a rewrite of the whole manifest per commit would be 5,000 times)."""
    segments: list[Segment] = []
    written = committed = 0
    for n in range(10_000):
        segments.append(Segment(f"s{n}", 3))
        written += 3
        committed += 3
        count = plan_merge(segments, final=False)
        if count:
            merged = sum(s.records for s in segments[-count:])
            segments = segments[:-count] + [Segment(f"m{n}", merged)]
            written += merged
        assert len(segments) <= MAX_SEGMENTS
    assert written <= 12 * committed, written / committed
    assert plan_merge(segments, final=True, run_records=committed) == len(segments)  # a run that made it all
    assert plan_merge(segments, final=True, run_records=3) < len(segments)  # a small run: not the whole again


def test_a_working_copy_synced_with_the_old_layout_goes_on_without_a_conflict(tmp_path: Path, served):
    """A checkout that applied with the earlier version (its .bria/<spec>/backend.json names the
    versions of state.json and manifest.json) plans and applies against the migrated backend."""
    import hashlib

    from bria_pipeline.state.store import StateStore
    from bria_pipeline.state.working_copy import state_digest

    url, _app = served
    spec, backend_url, backend = _applied(tmp_path, url, "laptop")
    _as_old_layout(backend, torn=False)
    outputs, state_dir = spec.parent / "outputs", spec.parent / ".bria" / "spec"
    local = Manifest.load(outputs, observe=False).as_bytes()
    (state_dir / "backend.json").write_text(json.dumps({
        "url": backend_url, "key": backend.key,
        "state_version": backend.store.read(backend.state_key).version,
        "manifest_version": backend.store.read(backend.manifest_key).version,
        "state_sha": state_digest(StateStore.load(state_dir / "state.json").as_data()),
        "manifest_sha": hashlib.sha256(local).hexdigest()}))
    pipeline = Pipeline(spec, api_url=url, token=TOKEN, backend=backend_url)
    assert not pipeline.plan().has_changes
    before = sandbox_stats(url)
    assert pipeline.apply(auto_approve=True).ok and billed(sent(before, sandbox_stats(url))) == 0
    assert json.loads((state_dir / "backend.json").read_text())["format"] == 2
    assert read_committed(backend).root.serial == 1
