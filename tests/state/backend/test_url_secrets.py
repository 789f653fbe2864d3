"""A secret in a URL (credentials, a query, a fragment, parameters) is refused from every source,
the spec, a flag and the environment, for the backend and for the API, and shown masked: run as a
user would (the command line, -vv, JSON logs), a canary secret appears in no output and no file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from backend_helpers import checkout, subprocess_env

CANARY = "CanarySecret0x5eed"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bria_pipeline", "-vv", "--log-format", "json", *args],
                          env=subprocess_env({"BRIA_API_TOKEN": "canary-test-token", **(env or {})}), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


CASES = {
    "spec backend.url": (f"s3://AKIAEXAMPLE:{CANARY}@bucket/bria", [], {}),
    "--backend": (None, ["--backend", f"gs://bucket/bria?access_token={CANARY}"], {}),
    "BRIA_PIPELINE_BACKEND": (None, [], {"BRIA_PIPELINE_BACKEND": f"az://container/bria;sig={CANARY}"}),
    "--backend fragment": (None, ["--backend", f"s3://bucket/bria#{CANARY}"], {}),
}
API_CASES = {
    "--api-url": (["--api-url", f"https://api.example.invalid/v2?api_token={CANARY}"], {}),
    "BRIA_API_URL": ([], {"BRIA_API_URL": f"https://user:{CANARY}@api.example.invalid"}),
    "BRIA_BASE_URL": ([], {"BRIA_BASE_URL": f"https://api.example.invalid/v2;token={CANARY}"}),
}


@pytest.mark.parametrize("source", list(CASES))
def test_a_backend_url_with_a_secret_is_refused_masked_from_every_source(tmp_path: Path, source: str):
    spec_url, flags, env = CASES[source]
    spec = checkout(tmp_path, "repo")
    if spec_url is not None:
        spec.write_text(spec.read_text(encoding="utf-8") + f'\nbackend:\n  url: "{spec_url}"\n', encoding="utf-8")
    for command in (["plan", str(spec), *flags], ["apply", str(spec), "--auto-approve", *flags]):
        done = run(["--sandbox", *command], spec.parent, env)
        shown = done.stdout + done.stderr
        assert done.returncode == 1, shown
        assert CANARY not in shown and "****" in shown, shown
    assert_no_file_holds_the_canary(tmp_path, spec if spec_url is not None else None)


@pytest.mark.parametrize("source", list(API_CASES))
def test_an_api_url_with_a_secret_is_refused_masked_from_every_source(tmp_path: Path, source: str):
    flags, env = API_CASES[source]
    spec = checkout(tmp_path, "repo")
    done = run([*flags, "plan", str(spec)], spec.parent, env)
    shown = done.stdout + done.stderr
    assert done.returncode == 1 and CANARY not in shown and "****" in shown, shown
    assert "API URL" in shown and "BRIA_API_TOKEN" in shown  # what to do instead
    assert_no_file_holds_the_canary(tmp_path, None)


def assert_no_file_holds_the_canary(root: Path, spec: Path | None) -> None:
    """Nothing written anywhere under the test's folder (state, logs, the sandbox's database)."""
    holding = [p for p in root.rglob("*") if p.is_file() and p != spec and CANARY.encode() in p.read_bytes()]
    assert not holding, holding
