"""`state push`: a spec applied without a backend moves to one; an interrupted push is resumed,
every output checked by sha256; afterwards a fresh checkout pays nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from backend_helpers import billed, checkout, files_of, sandbox_stats, sent

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline

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

    fresh = checkout(tmp_path, "ci", lock_from=spec.parent / "spec.lock.yaml")
    before = sandbox_stats(url)
    result = Pipeline(fresh, api_url=url, token=TOKEN, backend=backend).apply(auto_approve=True)
    assert result.ok and result.requests["mutating"] == 0 and billed(sent(before, sandbox_stats(url))) == 0
    assert Pipeline(fresh, backend=backend).pull() == (10, 0)
    made = {f: h for f, h in files_of(outputs).items() if f.endswith((".png", ".mp4"))}
    assert {f: h for f, h in files_of(fresh.parent / "outputs").items() if f.endswith((".png", ".mp4"))} == made
