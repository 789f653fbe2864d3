"""`state push`: a spec applied without a backend moves to one; an interrupted push is resumed,
every output checked by sha256; afterwards a fresh checkout pays nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner
from backend_helpers import billed, checkout, files_of, sandbox_stats, sent

from bria_pipeline.cli import main
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.store import StateStore
from bria_pipeline.reports.gallery import write_gallery
from bria_pipeline.state.working_copy import WorkingCopy, read_committed

TOKEN = "push-token"


def test_state_push_is_resumable_verified_and_idempotent(tmp_path: Path, served):
    url, _app = served
    spec = checkout(tmp_path, "laptop")
    assert Pipeline(spec, api_url=url, token=TOKEN, concurrency=10).apply(auto_approve=True).ok  # no backend
    outputs = spec.parent / "outputs"
    backend_dir = tmp_path / "backend"
    backend = backend_dir.as_uri()
    # what an interrupted push left: some outputs there, one of them cut short; no manifest, no state
    stored = backend_dir / "lucy" / "spec" / "outputs" / "places"
    stored.mkdir(parents=True)
    for png in sorted((outputs / "places").glob("*.png"))[:4]:
        shutil.copy(png, stored / png.name)
    cut = sorted(stored.glob("*.png"))[0]
    cut.write_bytes(cut.read_bytes()[:100])

    pushed = CliRunner().invoke(main, ["state", "push", str(spec), "--backend", backend])
    assert pushed.exit_code == 0, pushed.output
    assert "Pushed the state and 7 output file(s)" in pushed.output and "(3 already there, verified by sha256)" in pushed.output
    again = CliRunner().invoke(main, ["state", "push", str(spec), "--backend", backend])
    assert again.exit_code == 0 and "nothing to push" in again.output
    assert not read_committed(Backend.for_spec(spec, backend)).root.gallery_due  # every thumbnail was here to push

    fresh = checkout(tmp_path, "ci", lock_from=spec.parent / "spec.lock.yaml")
    before = sandbox_stats(url)
    result = Pipeline(fresh, api_url=url, token=TOKEN, backend=backend).apply(auto_approve=True)
    assert result.ok and result.requests["mutating"] == 0 and billed(sent(before, sandbox_stats(url))) == 0
    assert Pipeline(fresh, backend=backend).pull() == (10, 0)
    made = {f: h for f, h in files_of(outputs).items() if f.endswith((".png", ".mp4"))}
    assert {f: h for f, h in files_of(fresh.parent / "outputs").items() if f.endswith((".png", ".mp4"))} == made


def test_the_backend_manifest_never_names_a_file_the_backend_does_not_hold(tmp_path: Path):
    """An output recorded done whose file went missing (or was edited) before a push is published
    as failed: a fresh checkout makes it again instead of trusting a file that is not there."""
    outputs = tmp_path / "spec" / "outputs"
    manifest = Manifest(outputs)
    for name, data in (("kept", b"kept bytes"), ("lost", b"lost bytes"), ("edited", b"edited bytes")):
        (outputs / "set").mkdir(parents=True, exist_ok=True)
        (outputs / "set" / f"{name}.png").write_bytes(data)
        manifest.record_pending(name, "req-" + name, kind="image", name=f"set/{name}", set_name="set", model="m")
        manifest.record_done(name, file=f"set/{name}.png", sha256=hashlib.sha256(data).hexdigest())
    manifest.save()
    (outputs / "set" / "lost.png").unlink()
    (outputs / "set" / "edited.png").write_bytes(b"changed by hand")
    spec = tmp_path / "spec" / "spec.yaml"
    backend = Backend.for_spec(spec, (tmp_path / "backend").as_uri())
    copy = WorkingCopy(backend, tmp_path / "spec" / ".bria" / "spec" / "state.json", outputs, render_gallery=write_gallery)
    copy.open(write_local=True)
    assert copy.push(StateStore(copy.state_path))
    published = Manifest.from_data(outputs, read_committed(backend).view.as_manifest_json())
    assert {r.key: r.status for r in published} == {"kept": "done", "lost": "failed", "edited": "failed"}
    assert sorted(backend.store.list(backend.outputs_prefix)) == [backend.output_key("index.html"),
                                                                 backend.output_key("set/kept.png")]
    fresh = WorkingCopy(backend, tmp_path / "fresh" / ".bria" / "spec" / "state.json", tmp_path / "fresh" / "outputs")
    assert fresh.pull_outputs() == (1, 0)


def test_state_push_takes_outputs_still_in_the_old_shared_outputs_folder(tmp_path: Path):
    """A spec with no output_dir applied before outputs got a folder per spec left its files in
    outputs/: `state push` moves them into the spec's folder first, so the backend holds them and
    a fresh checkout does not pay for them again."""
    from bria_pipeline.state.records import OutputRecord
    from bria_pipeline.state.hashing import sha256_bytes

    spec = checkout(tmp_path, "laptop")
    text = spec.read_text(encoding="utf-8")
    spec.write_text("\n".join(line for line in text.splitlines() if not line.strip().startswith("output_dir:")) + "\n",
                    encoding="utf-8")
    old = spec.parent / "outputs"
    (old / "places").mkdir(parents=True)
    (old / "places" / "seed1.png").write_bytes(b"paid for")
    model = next(line.split(":")[1].strip() for line in text.splitlines() if line.strip().startswith("model:"))
    Manifest(old, [OutputRecord(key="k", kind="image", name="places/seed1", set_name="places", model=model,
                                status="done", file="places/seed1.png", sha256=sha256_bytes(b"paid for"))]).save()
    backend_dir = tmp_path / "backend"

    pushed = CliRunner().invoke(main, ["state", "push", str(spec), "--backend", backend_dir.as_uri()])
    assert pushed.exit_code == 0, pushed.output
    stored = [p for p in backend_dir.rglob("seed1.png")]
    assert len(stored) == 1 and stored[0].read_bytes() == b"paid for", sorted(backend_dir.rglob("*"))
    assert (spec.parent / "outputs" / "spec" / "places" / "seed1.png").read_bytes() == b"paid for"
