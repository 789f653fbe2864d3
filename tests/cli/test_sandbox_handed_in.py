"""The core never starts the sandbox: the CLI's --sandbox hands it to the Pipeline as a transport,
Python callers do the same with LocalSandbox, and sandbox=True with nothing handed in is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bria_pipeline.api.errors import ConfigError
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import LocalSandbox
from cli_helpers import run, write_spec


def test_sandbox_true_without_a_sandbox_handed_in_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="handed-in")
    with pytest.raises(ConfigError) as refused:
        Pipeline(spec, sandbox=True).plan()
    assert "sandbox=True needs the sandbox handed in" in refused.value.describe()
    assert "LocalSandbox" in refused.value.describe()
    assert not (spec.parent / ".bria" / "sandbox.sqlite").exists()


def test_the_cli_sandbox_is_the_local_sandbox_beside_the_spec(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="handed-in")
    db = spec.parent / ".bria" / "sandbox.sqlite"
    with LocalSandbox(db) as sandbox:
        pipeline = Pipeline(spec, sandbox=True, transport=sandbox.transport())
        plan = pipeline.plan()
        assert plan.request_stats["operations"] == {"list_projects": 1} and plan.requests == 1
        created = pipeline.apply(plan, auto_approve=True, wait=False)
        assert created.ok and created.requests["mutating"] > 0
    assert db.exists()
    # the CLI's --sandbox talks to that same database: what Python made is there, nothing to do
    again = run("-v", "--sandbox", "plan", str(spec), "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "requests (0 mutating): " in again.stderr and "list_project_datasets 1" in again.stderr
    shown = run("-v", "--sandbox", "show", str(spec))
    assert shown.exit_code == 0, shown.output
    assert "requests (0 mutating): " in shown.stderr and "list_project_models 1, list_projects 1" in shown.stderr


def test_an_invalid_spec_under_sandbox_leaves_no_sandbox_database(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="handed-in", broken=True)
    result = run("--sandbox", "plan", str(spec))
    assert result.exit_code == 1
    assert not (spec.parent / ".bria" / "sandbox.sqlite").exists()
