"""CI runners share nothing but the repository: each apply starts from a fresh checkout (no .bria/,
no outputs; the lock file as committed). With a backend, only the first run pays."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from backend_helpers import billed, checkout, files_of, sandbox_stats, sent

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline

TOKEN = "ci-token"


def test_second_and_third_ci_runs_pay_nothing_and_pull_restores_the_outputs(tmp_path: Path, served, s3_url: str):
    url, _app = served
    first = checkout(tmp_path, "run1")
    result = Pipeline(first, api_url=url, token=TOKEN, backend=s3_url, concurrency=10).apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    made = files_of(first.parent / "outputs")
    assert sum(1 for f in made if f.endswith((".png", ".mp4")) and not f.startswith(".thumbs")) == 10

    for run in ("run2", "run3"):
        spec = checkout(tmp_path, run, lock_from=first.parent / "spec.lock.yaml")
        before = sandbox_stats(url)
        pipeline = Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url)
        plan = pipeline.plan()
        assert not plan.has_changes, [(a.address, a.reason) for a in plan.changes]
        assert pipeline.backend_requests == 2  # state.json and manifest.json
        result = pipeline.apply(auto_approve=True)
        routes = sent(before, sandbox_stats(url))
        assert result.ok and result.requests["total"] == 3 and result.requests["mutating"] == 0
        assert billed(routes) == 0 and sandbox_stats(url)["mutating"] == before["mutating"], routes
        assert pipeline.backend_requests <= 6  # lock, state, manifest, (state), lock, unlock: never one per output
        assert not (spec.parent / "outputs" / "places").exists()  # a no-op fetches no output
    assert len([o for o in pipeline.outputs() if o["status"] == "done"]) == 10  # known from the backend

    pulled = CliRunner().invoke(main, ["pull", str(spec), "--backend", s3_url])
    assert pulled.exit_code == 0, pulled.output
    assert "Pulled 10 output(s)" in pulled.output
    got = files_of(spec.parent / "outputs")
    assert got == made  # byte-identical: every image, video, thumbnail, the manifest and the gallery
    again = CliRunner().invoke(main, ["pull", str(spec), "--backend", s3_url])
    assert "Pulled 0 output(s)" in again.output and "10 already here" in again.output


def test_ci_without_a_backend_says_what_it_cannot_tell_apart(tmp_path: Path, served, monkeypatch):
    url, _app = served
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("BRIA_PIPELINE_BACKEND", raising=False)
    plan = Pipeline(checkout(tmp_path, "ci"), api_url=url, token=TOKEN).plan()
    warning = plan.notes[0]
    assert warning.startswith("WARNING: running in CI") and "lost with it" in warning
    assert "11 billed output(s)" in warning  # 10 outputs + the structured prompt, unknowable without state
    monkeypatch.delenv("CI")
    assert not any("WARNING" in n for n in Pipeline(checkout(tmp_path, "laptop"), api_url=url, token=TOKEN).plan().notes)
