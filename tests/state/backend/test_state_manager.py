"""The state managers behind one typed interface: `.bria/` alone (LocalState), and a backend's
working copy reached through LocatingCopy, which apply persists through while it runs."""

from __future__ import annotations

from pathlib import Path

from bria_pipeline.state.backend import Backend
from bria_pipeline.state.locate import Located, LocatingCopy, provisional
from bria_pipeline.state.manager import LocalState
from bria_pipeline.state.working_copy import WorkingCopy, read_committed

RECORD = {"kind": "image", "name": "set/a", "set_name": "set", "model": "m"}


def test_local_state_is_saved_as_it_goes_and_never_synced(tmp_path: Path):
    local = LocalState(tmp_path / ".bria" / "spec")
    assert not local.syncs
    opened = local.open(write_local=True)
    assert opened.manifest is None and opened.source == {"state": "working copy"}
    opened.store.lineage = {"id": "l-1", "spec": "spec.yaml"}
    assert local.push(opened.store) is False  # nothing to commit: one save
    assert LocalState(tmp_path / ".bria" / "spec").open(write_local=False).store.lineage["id"] == "l-1"
    assert local.fetch(["set/a.png"]) == 0


def test_a_located_working_copy_settles_its_key_and_syncs_what_changed(tmp_path: Path):
    spec = tmp_path / "spec" / "spec.yaml"
    outputs = spec.parent / "outputs"
    backend = Backend.for_spec(spec, (tmp_path / "backend").as_uri())
    placed: list[tuple[Located, str | None]] = []

    def place(located: Located, moved_from: str | None = None) -> None:
        backend.key = located.key
        placed.append((located, moved_from))

    copy = LocatingCopy(lambda: WorkingCopy(backend, spec.parent / ".bria" / "spec" / "state.json", outputs),
                        provisional(spec, backend.url, None), place, spec, "lucy")
    assert copy.syncs  # apply pushes through it while it runs
    opened = copy.open(write_local=True)
    assert [(found.how, found.checked, moved) for found, moved in placed] == [("new", True, None)]
    assert copy.located is placed[0][0] and copy.output_dir == outputs and copy.backend is backend

    assert opened.manifest is not None
    unchanged = copy.manifest_signature()
    opened.manifest.record_pending("k", "req-1", **RECORD)
    assert copy.manifest_signature() != unchanged  # what apply's periodic push looks at
    assert copy.push(opened.store, gallery=False)
    assert read_committed(backend).view.outputs["k"]["request_id"] == "req-1"
    assert copy.snapshot().view.outputs["k"]["request_id"] == "req-1"
    assert not copy.push(opened.store, gallery=False)  # nothing changed since: no commit
