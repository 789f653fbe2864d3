"""What the output looks like where it is read: a terminal (colours, bars), NO_COLOR, a CI log
(no ANSI, no redraws), and --log-format json (one JSON object per stderr line)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bria_pipeline.pipeline import Pipeline
from cli_helpers import CLI, run, run_child, run_on_terminal, write_spec

pytestmark = pytest.mark.timeout(120)
ANSI = "\x1b["


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "brand", project="output-brand")


def test_a_terminal_gets_colours_and_bars_so_the_checks_below_can_see_them(spec: Path) -> None:
    code, text = run_on_terminal(["--sandbox", "plan", str(spec)], {})
    assert code == 0 and ANSI in text and "Plan: " in text
    code, text = run_on_terminal(["--sandbox", "apply", str(spec), "--auto-approve"], {})
    assert code == 0 and "\r" in text.replace("\r\n", "\n") and "━" in text  # bars, redrawn in place


@pytest.mark.parametrize("how", [{"NO_COLOR": "1"}, {"NO_COLOR": "anything"}, {"TERM": "dumb"}, "--no-color"],
                         ids=["NO_COLOR=1", "NO_COLOR=anything", "TERM=dumb", "--no-color"])
def test_no_colour_on_a_terminal_when_asked_in_any_way(spec: Path, how: dict[str, str] | str) -> None:
    flag = [how] if isinstance(how, str) else []
    env = how if isinstance(how, dict) else {}
    code, planned = run_on_terminal(flag + ["--sandbox", "plan", str(spec)], env)
    assert code == 0 and "Plan: " in planned and ANSI not in planned
    code, applied = run_on_terminal(flag + ["--sandbox", "apply", str(spec), "--auto-approve"], env)
    assert code == 0, applied
    assert ANSI not in applied and "\r" not in applied.replace("\r\n", "\n")  # no colours, no bars redrawn
    assert "  done     dataset.lucy: created dataset" in applied  # one plain line per finished step


def test_a_ci_log_has_no_ansi_and_no_redraws(spec: Path) -> None:
    done = run_child("--sandbox", "apply", str(spec), "--auto-approve")  # pipes, as in CI
    assert done.returncode == 0, done.stderr
    for text in (done.stdout, done.stderr):
        assert ANSI not in text and "\r" not in text
    assert "Apply complete:" in done.stdout and "  done     dataset.lucy.captions:" in done.stderr


def json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(p, dict) and {"time", "level", "message"} <= p.keys() for p in parsed)
    return parsed


def test_json_log_format_gives_one_json_object_per_stderr_line(spec: Path) -> None:
    applied = run("--log-format", "json", "-vv", "--sandbox", "apply", str(spec), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    events = json_lines(applied.stderr)
    kinds = {e.get("event") for e in events}
    assert {"plan", "end", "requests"} <= kinds
    assert any(e.get("operation") == "create_dataset" and e.get("status") in (200, 201) for e in events)
    done = [e for e in events if e.get("event") == "end"]
    assert any(e["address"] == "dataset.lucy" for e in done)
    assert "Apply complete" in applied.stdout  # the result itself stays on stdout


def test_json_log_format_errors_and_summaries_are_json_too(spec: Path, tmp_path: Path) -> None:
    broken = write_spec(tmp_path / "broken", project="broken-brand", broken=True)
    result = run("--log-format", "json", "--sandbox", "plan", str(spec), str(broken), "--format", "json")
    assert result.exit_code == 1
    events = json_lines(result.stderr)
    (error,) = [e for e in events if e["level"] == "error"]
    assert error["spec"] == str(broken) and error["error"] == "SpecErrors"
    assert error["problems"][0]["path"] == "project.ip_type"
    (summary,) = [e for e in events if e.get("event") == "summary"]
    assert [s["result"] for s in summary["specs"]] == ["changes", "error"]
    assert len(json.loads(result.stdout)) == 1  # stdout: the one plan that could be made
    usage = run("--log-format", "json", "plan", "--bogus", str(spec))
    assert usage.exit_code == 1 and json_lines(usage.stderr)[0]["level"] == "error"


def test_json_log_format_covers_the_served_sandbox(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(CLI + ["--log-format", "json", "sandbox", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=2).status_code == 200
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    events = json_lines(stderr)
    assert any("bria-pipeline sandbox on http://127.0.0.1" in e["message"] for e in events)
    assert any(e.get("logger") == "uvicorn.access" and "/_sandbox/health" in e["message"] for e in events)


def test_an_unexpected_error_is_one_line_and_minus_v_adds_the_traceback(spec: Path, monkeypatch) -> None:
    def broken_show(self: Pipeline) -> dict:
        raise RuntimeError("the state table is upside down")

    monkeypatch.setattr(Pipeline, "show", broken_show)
    plain = run("--sandbox", "show", str(spec))
    assert plain.exit_code == 1
    assert plain.stderr == (f"error: {spec}: internal error: the state table is upside down\n"
                            "  hint: this is a bug in bria-pipeline, not in your input: please report it; "
                            "run with -v to see the traceback\n")
    verbose = run("-v", "--sandbox", "show", str(spec))
    assert verbose.exit_code == 1 and "Traceback (most recent call last)" in verbose.stderr
    assert 'raise RuntimeError("the state table is upside down")' in verbose.stderr
