"""Global options before or after the command, every option from a BRIA_PIPELINE_* variable, and
-vv printing each request once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bria_pipeline.sandbox import create_app, running
from cli_helpers import run, write_spec

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "brand", project="options-brand")


def json_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_global_options_work_after_the_command_as_the_issue_types_them(spec: Path) -> None:
    app = create_app(None)
    with running(app) as url:
        result = run("apply", str(spec), "--auto-approve", "--api-url", url, "-v", "--no-color", "--log-format", "json",
                     env={"BRIA_API_TOKEN": "after-the-command"})
    assert result.exit_code == 0, result.output
    events = json_lines(result.stderr)  # --log-format json after the command: every stderr line is JSON
    assert any(e.get("event") == "requests" for e in events)  # -v after the command: request counts
    assert any(e.get("event") == "end" and e["address"] == "dataset.lucy" for e in events)
    assert "Apply complete" in result.stdout


def test_an_option_after_the_command_wins_and_verbosity_adds_up(spec: Path) -> None:
    result = run("--log-format", "text", "-v", "--sandbox", "plan", str(spec), "--log-format", "json", "-v")
    assert result.exit_code == 0, result.output
    events = json_lines(result.stderr)
    assert [e["operation"] for e in events if e.get("event") == "request"] == ["list_projects"]  # -v -v = -vv


def test_minus_vv_prints_each_request_once_in_text_and_in_json(spec: Path) -> None:
    text = run("-vv", "--sandbox", "plan", str(spec))
    assert text.exit_code == 0, text.output
    assert [line for line in text.stderr.splitlines() if "list_projects GET" in line] == [
        line for line in text.stderr.splitlines() if line.startswith("  api: request list_projects GET")]
    assert text.stderr.count("request list_projects GET") == 1
    as_json = run("-vv", "--log-format", "json", "--sandbox", "plan", str(spec))
    requests = [e for e in json_lines(as_json.stderr) if "list_projects GET" in e["message"]]
    assert len(requests) == 1 and requests[0]["operation"] == "list_projects" and requests[0]["status"] == 200


def test_every_global_option_comes_from_a_bria_pipeline_variable(spec: Path) -> None:
    env = {"BRIA_PIPELINE_SANDBOX": "1", "BRIA_PIPELINE_LOG_FORMAT": "json", "BRIA_PIPELINE_VERBOSE": "2",
           "BRIA_PIPELINE_NO_COLOR": "true"}
    result = run("plan", str(spec), env=env)
    assert result.exit_code == 0, result.output
    events = json_lines(result.stderr)
    assert any(e.get("event") == "request" for e in events) and any(e.get("event") == "requests" for e in events)
    app = create_app(None)
    with running(app) as url:
        served = run("plan", str(spec), env={"BRIA_PIPELINE_API_URL": url, "BRIA_API_TOKEN": "from-the-variable"})
    assert served.exit_code == 0 and "Plan: " in served.stdout, served.output


def test_command_options_come_from_bria_pipeline_command_option_variables(spec: Path) -> None:
    refused = run("--sandbox", "apply", str(spec))  # off a terminal, no approval: nothing is sent
    assert refused.exit_code == 1 and "needs --auto-approve" in refused.stderr
    approved = run("--sandbox", "apply", str(spec), env={"BRIA_PIPELINE_APPLY_AUTO_APPROVE": "1",
                                                           "BRIA_PIPELINE_APPLY_CONCURRENCY": "2"})
    assert approved.exit_code == 0, approved.output
    bad = run("--sandbox", "apply", str(spec), env={"BRIA_PIPELINE_APPLY_CONCURRENCY": "many"})
    assert bad.exit_code == 1 and "--concurrency" in bad.stderr


def test_help_lists_the_variables() -> None:
    top = run("--help").stdout
    for name in ("BRIA_PIPELINE_SANDBOX", "BRIA_PIPELINE_API_URL", "BRIA_PIPELINE_NO_COLOR", "BRIA_PIPELINE_VERBOSE",
                 "BRIA_PIPELINE_LOG_FORMAT", "BRIA_PIPELINE_HEARTBEAT"):
        assert name in top, name
    apply_help = " ".join(run("apply", "--help").stdout.split())
    for name in ("BRIA_PIPELINE_APPLY_AUTO_APPROVE", "BRIA_PIPELINE_APPLY_RATE_LIMIT", "BRIA_PIPELINE_APPLY_TARGET"):
        assert name in apply_help, name
    # the global options' variables are listed once, in the top-level help and `help options`
    assert "BRIA_PIPELINE_API_URL" not in apply_help and "bria-pipeline help options" in apply_help
    assert "BRIA_PIPELINE_API_URL" in run("help", "options").stdout
    assert "BRIA_PIPELINE_SANDBOX_SERVE_PORT" in " ".join(run("sandbox", "serve", "--help").stdout.split())
