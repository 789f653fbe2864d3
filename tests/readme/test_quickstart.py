"""The README's first set-up command, as written there, run in a fresh copy of the example.

The command installs the project and then runs `bria-pipeline ...`. The install is what this very
test environment already is (CI runs the README's second command, which installs the same package
with its test extras), so the test runs the `bria-pipeline` part of the line, parsed from the
README, with this environment's interpreter, in a temporary directory holding a copy of
`examples/`. It then checks that the whole pipeline completed against the sandbox, and that a
second run changes nothing: no new remote rows, no new generation, the output files untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

pytestmark = pytest.mark.timeout(300)


def readme_command(marker: str) -> str:
    """The first non-empty line of the code block that follows `<!-- marker -->`."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"README has no code block after <!-- {marker} -->"
    return next(line.strip() for line in match.group(1).splitlines() if line.strip())


def bria_steps(command: str) -> list[list[str]]:
    """The `bria-pipeline ...` parts of a `&&` chain, as argument lists."""
    steps = [shlex.split(part) for part in command.split("&&")]
    found = [step for step in steps if step and step[0] == "bria-pipeline"]
    assert found, f"no bria-pipeline step in the README command: {command}"
    return found


def run_steps(steps: list[list[str]], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("BRIA_API_TOKEN", "BRIA_API_URL", "BRIA_BASE_URL")}
    env["NO_COLOR"] = "1"
    out = []
    for step in steps:
        argv = [sys.executable, "-m", "bria_pipeline", *step[1:]]
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"{shlex.join(step)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        out.append(done.stdout + done.stderr)
    return "\n".join(out)


def spec_dir_of(steps: list[list[str]], cwd: Path) -> Path:
    spec = next(arg for arg in steps[-1] if arg.endswith((".yaml", ".yml")))
    return (cwd / spec).parent


def remote_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [name for (name,) in conn.execute("select name from sqlite_master where type='table'")]
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables if t != "sqlite_sequence"}


def files_state(directory: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns(".bria", "outputs", "*.lock.yaml"))
    steps = bria_steps(readme_command("quickstart-command"))
    first = run_steps(steps, work)
    return work, steps, first


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in ci
    assert "pytest" in readme_command("test-command")


def test_quickstart_applies_the_whole_example_against_the_sandbox(quickstart) -> None:
    work, steps, output = quickstart
    assert "--sandbox" in steps[-1] and "apply" in steps[-1]
    spec_dir = spec_dir_of(steps, work)
    outputs = spec_dir / "outputs"

    manifest = json.loads((outputs / "manifest.json").read_text(encoding="utf-8"))
    records = list(manifest["outputs"].values())
    assert records, "the manifest lists no output"
    assert {r["status"] for r in records} == {"done"}
    for record in records:
        path = outputs / record["file"]
        assert path.is_file(), record["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
    assert any(r["kind"] == "video" for r in records)

    gallery = (outputs / "index.html").read_text(encoding="utf-8")
    for record in records:
        assert record["file"] in gallery

    rows = remote_rows(spec_dir / ".bria" / "sandbox.sqlite")
    assert rows["projects"] == 1 and rows["datasets"] == 1 and rows["models"] == 1
    assert rows["images"] == len(list((spec_dir / "images").glob("*.png")))
    assert (spec_dir / "spec.lock.yaml").is_file()
    assert "Apply complete" in output and " 0 failed" in output


def test_running_the_quickstart_again_changes_nothing(quickstart) -> None:
    work, steps, _ = quickstart
    spec_dir = spec_dir_of(steps, work)
    before_rows = remote_rows(spec_dir / ".bria" / "sandbox.sqlite")
    before_files = files_state(spec_dir / "outputs")
    before_lock = (spec_dir / "spec.lock.yaml").read_bytes()

    output = run_steps(steps, work)

    assert "No changes" in output
    assert re.search(r"\b0 mutating\b", output), output
    assert remote_rows(spec_dir / ".bria" / "sandbox.sqlite") == before_rows
    assert files_state(spec_dir / "outputs") == before_files
    assert (spec_dir / "spec.lock.yaml").read_bytes() == before_lock
