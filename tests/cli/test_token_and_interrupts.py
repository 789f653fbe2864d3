"""Without a token every command that talks to the API says what to do; with one, the token
never shows in any output or file; Ctrl-C ends a run with 130 and the next run finishes it."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bria_pipeline.sandbox import FaultPlan, create_app
from bria_pipeline.sandbox.server import running
from cli_helpers import CLI, run, run_child, write_spec

pytestmark = pytest.mark.timeout(120)
TOKEN = "tok-Zq81-never-printed-5b7d"

API_COMMANDS = [
    ["plan", "{spec}"],
    ["apply", "{spec}", "--auto-approve"],
    ["destroy", "{spec}", "--auto-approve"],
    ["show", "{spec}"],
    ["refresh", "{spec}"],
    ["import", "{spec}", "project", "1"],
    ["review", "{spec}"],
]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "brand", project="token-brand")


@pytest.mark.parametrize("command", API_COMMANDS, ids=lambda c: c[0])
def test_without_a_token_every_api_command_names_the_token_and_the_sandbox(spec: Path, command: list[str]) -> None:
    result = run(*(part.format(spec=spec) for part in command))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no API token: BRIA_API_TOKEN is not set\n  hint: ")
    assert "--sandbox" in result.stderr and "Traceback" not in result.stderr
    assert not (spec.parent / ".bria").exists()  # nothing written before failing


def test_without_a_token_a_directory_run_says_so_once(spec: Path, tmp_path: Path) -> None:
    write_spec(tmp_path / "other", project="other-brand")
    result = run("plan", str(tmp_path))
    assert result.exit_code == 1 and result.stderr.count("BRIA_API_TOKEN is not set") == 1


def test_commands_that_need_no_api_run_without_a_token(spec: Path) -> None:
    assert run("validate", str(spec)).exit_code == 0
    assert run("schema").exit_code == 0
    assert run("--sandbox", "plan", str(spec)).exit_code == 0


def test_an_unreachable_api_is_an_error_line_without_the_token(spec: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = run("-vv", "--api-url", f"http://127.0.0.1:{closed}", "plan", str(spec), env={"BRIA_API_TOKEN": TOKEN})
    assert result.exit_code == 1, result.output
    assert f"error: {spec}: list_projects: no answer from http://127.0.0.1:{closed}" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("verbosity", [[], ["-vv"], ["--log-format", "json", "-vv"]], ids=["plain", "-vv", "json"])
def test_an_api_refusal_is_an_error_line_without_the_token(spec: Path, tmp_path: Path, verbosity: list[str]) -> None:
    app = create_app(tmp_path / "served.sqlite", faults=FaultPlan(quota=0))  # every request: 403 Quota exceeded
    try:
        with running(app) as url:
            result = run(*verbosity, "--api-url", url, "apply", str(spec), "--auto-approve", env={"BRIA_API_TOKEN": TOKEN})
    finally:
        app.state.sandbox.close()
    assert result.exit_code == 1, result.output
    assert "Quota exceeded" in result.stderr
    assert ("Traceback" in result.stderr) == bool(verbosity)  # -vv adds tracebacks, even of expected errors
    assert TOKEN not in result.stdout + result.stderr


def test_the_token_never_reaches_any_output_or_file(spec: Path, tmp_path: Path) -> None:
    app = create_app(tmp_path / "served.sqlite", training_seconds=0.1)
    try:
        with running(app) as url:
            for args in (["-vv", "apply", str(spec), "--auto-approve"], ["-vv", "show", str(spec), "--json"],
                         ["--log-format", "json", "-vv", "review", str(spec)], ["-vv", "plan", str(spec), "--format", "json"]):
                result = run("--api-url", url, *args, env={"BRIA_API_TOKEN": TOKEN})
                assert result.exit_code == 0, result.output
                assert TOKEN not in result.stdout + result.stderr
    finally:
        app.state.sandbox.close()
    written = [p for p in spec.parent.rglob("*") if p.is_file()]
    assert any(p.name == "review.html" for p in written)
    assert not [p for p in written if TOKEN.encode() in p.read_bytes()]


def test_ctrl_c_during_apply_exits_130_and_the_next_apply_finishes(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="interrupted-brand", complete=True, model=True)
    proc = subprocess.Popen(CLI + ["--sandbox", "apply", str(spec), "--auto-approve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the training has started, then press Ctrl-C
        seen.append(line)
        if "model.lucy-lora: created model" in line:
            break
        assert time.monotonic() < deadline, "".join(seen)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, rest = proc.communicate(timeout=60)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    finished = run("--sandbox", "apply", str(spec), "--auto-approve")
    assert finished.exit_code == 0, finished.output
    assert run("--sandbox", "plan", str(spec), "--detailed-exitcode").exit_code == 0


# --- a token an HTTP header cannot carry, and the token in every form --------------------------

BAD_TOKENS = {
    "LF": "tok-8f1c2a9e5b7d4c3a\nsecond-line-4e6f",
    "CR": "tok-8f1c2a9e5b7d4c3a\rcarriage-9a1b",
    "CRLF": "tok-8f1c2a9e5b7d4c3a\r\nwindows-line-77",
    "non-ASCII": "tok-8f1c2a9e5b7d4c3a\u00e9t\u00e9-\u4e2d-5e",
    "control": "tok-8f1c2a9e5b7d4c3a\x07bell-5d2c",
}
WHAT = {"LF": "a line break (CR or LF)", "CR": "a line break (CR or LF)", "CRLF": "a line break (CR or LF)",
        "non-ASCII": "a non-ASCII character", "control": "a control character"}


def token_forms(token: str) -> set[str]:
    """What a leak of `token` looks like in text, written out with the standard library only."""
    data = token.encode("utf-8")
    found = {token, repr(token)[1:-1], repr(data)[2:-1], json.dumps(token)[1:-1], json.dumps(repr(data))[1:-1],
             urllib.parse.quote(token, safe=""), urllib.parse.quote_plus(token),
             base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode().rstrip("=")}
    found |= {line for line in re.split(r"[\r\n]+", token) if len(line) >= 8}
    return found


def leaks(token: str, *texts: str) -> list[str]:
    return [form for form in token_forms(token) for text in texts if form in text]


def refused(result, token: str, kind: str, verbosity: list[str]) -> None:
    assert result.exit_code == 1, result.output
    assert f"the API token in BRIA_API_TOKEN holds {WHAT[kind]} at character 21 of {len(token)}" in result.stderr
    assert "platform.bria.ai" in result.stderr and "unexpected" not in result.stderr
    assert not leaks(token, result.stdout, result.stderr)
    if "json" in verbosity:
        assert all(json.loads(line) for line in result.stderr.splitlines())


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
@pytest.mark.parametrize("verbosity", [[], ["-vv"], ["--log-format", "json", "-vv"]], ids=["plain", "-vv", "json"])
def test_a_token_a_header_cannot_carry_is_refused_before_any_request_and_never_shown(
        spec: Path, served: str, kind: str, verbosity: list[str]) -> None:
    token = BAD_TOKENS[kind]
    refused(run(*verbosity, "--api-url", served, "plan", str(spec), env={"BRIA_API_TOKEN": token}), token, kind, verbosity)
    assert httpx.get(f"{served}/_sandbox/stats").json()["total"] == 0


def test_every_api_command_refuses_such_a_token_at_once(spec: Path, served: str) -> None:
    token = BAD_TOKENS["CRLF"]
    started = time.monotonic()
    for command in API_COMMANDS:
        result = run("-vv", "--api-url", served, *(part.format(spec=spec) for part in command),
                     env={"BRIA_API_TOKEN": token})
        refused(result, token, "CRLF", ["-vv"])
    assert time.monotonic() - started < 30  # no retries under a network hint (a loose bound: nothing was sent)
    assert httpx.get(f"{served}/_sandbox/stats").json()["total"] == 0
    assert not (spec.parent / ".bria").exists()


def test_a_token_with_a_line_break_is_refused_by_the_installed_command_too(spec: Path, served: str) -> None:
    token = BAD_TOKENS["LF"]
    done = run_child("-vv", "--api-url", served, "plan", str(spec), env={"BRIA_API_TOKEN": token})
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: the API token in BRIA_API_TOKEN holds a line break (CR or LF)")
    assert not leaks(token, done.stdout, done.stderr)
    assert httpx.get(f"{served}/_sandbox/stats").json()["total"] == 0


def echo_app() -> Starlette:
    """An API that quotes the token it received back in every form, in its error and its headers."""

    async def refuse(request: Request) -> Response:
        token = request.headers.get("api_token", "")
        data = token.encode()
        text = (f"bad token {token}, repr {data!r}, url {urllib.parse.quote(token, safe='')}, "
                f"b64 {base64.b64encode(data).decode()}, b64url {base64.urlsafe_b64encode(data).decode()}, "
                f"inside a longer b64 {base64.b64encode(b'xy' + data).decode()}")
        return JSONResponse({"message": text, "errors": [{"msg": text, "field_name": "api_token",
                                                           "field_input": token}]}, status_code=401)

    return Starlette(routes=[Route("/v1/tailored-gen/projects", refuse)])


@pytest.mark.parametrize("verbosity", [[], ["-vv"], ["--log-format", "json", "-vv"]], ids=["plain", "-vv", "json"])
def test_the_token_echoed_by_a_server_in_any_form_is_masked(spec: Path, verbosity: list[str]) -> None:
    token = "tok-" + "3f9a1c" * 6 + "/+=?&"
    with running(echo_app()) as url:
        result = run(*verbosity, "--api-url", url, "plan", str(spec), env={"BRIA_API_TOKEN": token})
    assert result.exit_code == 1, result.output
    assert "bad token ****, repr b'****', url ****" in result.stderr
    assert not leaks(token, result.stdout, result.stderr)
    # the base64 of the token inside a longer base64 text: its determined characters are masked too
    inner = base64.b64encode(b"xy" + token.encode()).decode()
    assert inner[3:40] not in result.stderr


def test_the_token_is_masked_on_stdout_too_even_where_a_spec_value_holds_it(tmp_path: Path) -> None:
    token = "tok-" + "5e7a" * 8
    spec = tmp_path / "spec.yaml"
    spec.write_text('version: 1\nvars: {t: x}\nproject:\n  name: "{{ t }}"\n  ip_type: other\n  ip_medium: photography\n')
    for args in (["validate", str(spec)], ["--sandbox", "plan", str(spec), "--format", "json"]):
        result = run(*args, "--var", f"t={token}", env={"BRIA_API_TOKEN": token})
        assert result.exit_code == 0, result.output
        assert token not in result.stdout + result.stderr
    assert json.loads(result.stdout)["project"] == "****"
