"""Whole applies against the sandbox answering as Bria's other published material says (training
versions, a field the API no longer knows), in process and served; and an API that never answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from apply_helpers import TOKEN, console, remote_snapshot, sandbox_stats
from sandbox_time import DrivenPipeline

from bria_pipeline.api import AsyncBriaClient, TransportError
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.plan.errors import LegacyTrainingVersion
from bria_pipeline.sandbox import running
from bria_pipeline.sandbox.server import silent

pytestmark = pytest.mark.timeout(120)


def admin(app, method: str, path: str, body=None):
    async def call():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.local") as http:
            return (await http.request(method, path, json=body)).raise_for_status().json()

    return asyncio.run(call())


def training_versions(app) -> list[tuple[str, str | None]]:
    async def read(client: AsyncBriaClient):
        out = [(p.name, p.training_version) for p in await client.list_projects()]
        out += [(d.name, d.training_version) for d in await client.list_datasets()]
        return out

    return console(app, read)


@contextmanager
def pipeline_on(app, spec, served: bool) -> Iterator[Pipeline]:
    """A Pipeline on the sandbox app (waiting on its clock): in process, or over HTTP on 127.0.0.1 with a token."""
    clock = app.state.sandbox.clock
    if not served:
        pipeline = DrivenPipeline(spec, clock, sandbox=True, transport=httpx.ASGITransport(app=app))
        try:
            yield pipeline
        finally:
            pipeline.close()
        return
    with running(app) as url:
        pipeline = DrivenPipeline(spec, clock, api_url=url, token="sandbox-token")
        try:
            yield pipeline
        finally:
            pipeline.close()


def test_an_apply_against_the_transitional_api_makes_everything_fibo_and_generates(spec_dir, sandbox_app):
    admin(sandbox_app, "POST", "/_sandbox/variant", {"training_version": "transitional", "unknown_polls": 2,
                                                     "job_status_case": "lower"})
    spec_dir.write(generate=True)
    with pipeline_on(sandbox_app, spec_dir.spec, served=False) as pipeline:
        result = pipeline.apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    assert {version for _, version in training_versions(sandbox_app)} == {"fibo"}
    stats = sandbox_stats(sandbox_app)
    assert stats["billed"] == {"total": 3, "training": 1, "image": 2}  # nothing paid twice
    assert "Generation: 2 billed request(s)." in result.summary()


def test_an_apply_against_an_api_refusing_training_version_resends_once_without_it(spec_dir, sandbox_app):
    admin(sandbox_app, "POST", "/_sandbox/variant", {"training_version": "refuse_field"})
    spec_dir.write()
    with pipeline_on(sandbox_app, spec_dir.spec, served=True) as pipeline:
        assert pipeline.apply(auto_approve=True).ok
        before = sandbox_stats(sandbox_app)
        assert before["routes"]["POST /v1/tailored-gen/datasets"] == 2 and before["statuses"]["422"] == 1
        assert before["routes"]["POST /v1/tailored-gen/models"] == 1
        assert before["billed"]["training"] == 1
        assert pipeline.apply(auto_approve=True).ok
    after = sandbox_stats(sandbox_app)
    assert after["mutating"] == before["mutating"]
    snapshot = remote_snapshot(sandbox_app)
    assert len(snapshot["datasets"]) == 1 and len(snapshot["models"]) == 1


@pytest.mark.parametrize("served", [False, True], ids=["in-process", "served"])
def test_a_legacy_project_with_the_specs_name_is_refused_before_any_mutating_request(spec_dir, sandbox_app, served):
    spec_dir.write()

    async def old_project(client: AsyncBriaClient):
        return await client.create_project("lucy-test", ip_medium="illustration", ip_type="defined_character",
                                           ip_name="Lucy", ip_description="a girl with purple hair")

    project = console(sandbox_app, old_project)
    admin(sandbox_app, "POST", f"/_sandbox/projects/{project.id}/training_version", {"training_version": "max"})
    admin(sandbox_app, "POST", "/_sandbox/reset", {})
    with pipeline_on(sandbox_app, spec_dir.spec, served) as pipeline:
        with pytest.raises(LegacyTrainingVersion) as planned:
            pipeline.plan()
        with pytest.raises(LegacyTrainingVersion):
            pipeline.apply(auto_approve=True)
    text = planned.value.describe()
    assert f"project 'lucy-test' (id {project.id}) has training_version 'max'" in text
    assert "another project name" in text and "bria-pipeline import" in text
    stats = sandbox_stats(sandbox_app)
    assert stats["mutating"] == 0 and stats["total"] == 6  # list_projects, its datasets and models: plan, then apply


def test_apply_timeout_bounds_every_request_with_its_retries_against_an_api_that_never_answers(spec_dir):
    spec_dir.write(models=False)
    with silent() as url:
        pipeline = Pipeline(spec_dir.spec, api_url=url, token=TOKEN)
        started = time.monotonic()
        with pytest.raises(TransportError):
            pipeline.apply(auto_approve=True, timeout=1.5)
        elapsed = time.monotonic() - started
        pipeline.close()
    assert elapsed < 4.0, f"gave up after {elapsed:.1f} s instead of about 1.5 s"


def test_a_job_reported_failed_ends_the_wait_at_once_and_the_next_apply_makes_it_again(spec_dir, sandbox_app):
    """Served: jobs end with FAILED (other published material's word), spelled in title case; the
    wait ends at the first such answer, and only those outputs are requested again."""
    admin(sandbox_app, "POST", "/_sandbox/variant", {"job_failure_status": "FAILED", "job_status_case": "title"})
    admin(sandbox_app, "POST", "/_sandbox/faults", {"generation_error_rate": 1.0})
    spec_dir.write(generate=True)
    with pipeline_on(sandbox_app, spec_dir.spec, served=True) as pipeline:
        started = time.monotonic()
        first = pipeline.apply(auto_approve=True)
        assert time.monotonic() - started < 30  # not the 10-minute wait timeout
        failed = [s for s in first.steps if s.status == "failed"]
        assert len(failed) == 2 and all("status FAILED" in s.message for s in failed)
        admin(sandbox_app, "POST", "/_sandbox/faults", {})
        assert pipeline.apply(auto_approve=True).ok
    stats = sandbox_stats(sandbox_app)
    assert stats["routes"]["POST /v2/image/generate/tailored"] == 4
    assert stats["billed"] == {"total": 3, "training": 1, "image": 2}  # failed jobs are not charged
    records = list(Manifest.load(spec_dir.root / "outputs"))
    assert len(records) == 2 and all(r.status == "done" and [p["ended"] for p in r.previous] == ["error"] and not r.paid_again
               for r in records)


@pytest.mark.parametrize("command", ["plan", "show", "refresh"])
def test_timeout_bounds_plan_show_and_refresh_against_an_api_that_never_answers(spec_dir, command, monkeypatch):
    """`--timeout` means on plan, show and refresh what it means on apply: every request, its
    retries included, gives up after that long (before: about 125 s whatever was asked)."""
    from click.testing import CliRunner

    from bria_pipeline.cli import main

    spec_dir.write(models=False)
    monkeypatch.setenv("BRIA_API_TOKEN", TOKEN)
    with silent() as url:
        started = time.monotonic()
        result = CliRunner().invoke(main, ["--no-color", command, str(spec_dir.spec), "--api-url", url, "--timeout", "1s"])
        elapsed = time.monotonic() - started
    assert result.exit_code != 0, result.output
    assert elapsed < 5.0, f"{command} gave up after {elapsed:.1f} s instead of about 1 s"
    assert TOKEN not in result.output
