"""Every hint that names a command works when copied: each documented error is caused through the
CLI against the sandbox, the command its hint prints is copied as printed and run in a shell in
the same folder, and it must do what the hint says.

Also: no message speaks Python (type names, ``__init__``, "unexpected UnicodeDecodeError").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import write_spec
from example_spec import copy_example

pytestmark = pytest.mark.slow  # each hint runs in a shell, as copied: a child process per command

BIN = Path(sys.executable).parent  # the installed `bria-pipeline` script, as a user's PATH has it
PYTHON_NAMES = re.compile(r"__\w+__|\b[A-Z]\w+(Error|Exception)\b|Traceback|unexpected [A-Z]")


def sh(command: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A command line as a user types it, in a shell, in `cwd`; no token, nothing from the network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIA_", "NO_COLOR"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def hint_of(stderr: str) -> str:
    hints = [line.split("hint: ", 1)[1] for line in stderr.splitlines() if line.lstrip().startswith("hint: ")]
    assert hints, f"no hint in:\n{stderr}"
    return hints[-1]


def commands_in(text: str) -> list[str]:
    """The commands a hint or message prints: in backticks, or after a colon to the end."""
    quoted = re.findall(r"`((?:bria-pipeline|mv) [^`]+)`", text)
    if quoted:
        return quoted
    return [m.strip() for m in re.findall(r"(?:^|: )((?:bria-pipeline|mv) [^;]+?)(?:\s+\(.*)?$", text)]


def clean(result: subprocess.CompletedProcess[str]) -> None:
    """No Python inside any message."""
    assert not PYTHON_NAMES.search(result.stderr), result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    spec = write_spec(tmp_path / "brand", project="hint-brand", images=6)
    (tmp_path / "prod.yaml").write_text("unused: 1\n")
    assert spec.exists()
    return tmp_path


def test_saved_plan_hint_carries_sandbox_and_var_file(folder: Path) -> None:
    saved = sh("bria-pipeline plan brand/spec.yaml --sandbox --var-file prod.yaml --out plan.json", folder)
    assert saved.returncode == 0, saved.stderr
    (hinted,) = commands_in(saved.stderr.strip().splitlines()[-1])
    assert hinted == "bria-pipeline --sandbox apply --var-file prod.yaml plan.json"
    applied = sh(hinted, folder)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 11 done, 0 failed" in applied.stdout
    # a saved plan made stale by an edit of the spec: its hint makes a new one, which applies
    assert sh("bria-pipeline plan brand/spec.yaml --sandbox --var-file prod.yaml --out plan.json", folder).returncode == 0
    spec = folder / "brand" / "spec.yaml"
    spec.write_text(spec.read_text().replace("a girl with purple hair", "a girl with green hair"))
    stale = sh("bria-pipeline --sandbox apply plan.json --var-file prod.yaml", folder)
    assert stale.returncode == 1 and "stale" in stale.stderr, stale.stderr
    (again,) = commands_in(hint_of(stale.stderr))
    assert again == "bria-pipeline --sandbox plan --var-file prod.yaml brand/spec.yaml --out plan.json"
    remade = sh(again, folder)
    assert remade.returncode == 0, remade.stderr
    (apply_it,) = commands_in(remade.stderr.strip().splitlines()[-1])
    assert "1 done" in sh(apply_it, folder).stdout  # the project's new description
    # the plan file given where a spec goes: one problem saying what it is, and its hint works too
    as_spec = sh("bria-pipeline --sandbox plan plan.json", folder)
    assert as_spec.returncode == 1 and "1 problem in the spec" in as_spec.stderr
    assert "looks like a saved plan" in as_spec.stderr
    assert "give the spec it was made from: brand/spec.yaml" in as_spec.stderr


def test_import_hints_create_the_project_then_plan(folder: Path) -> None:
    unknown = sh("bria-pipeline --sandbox import brand/spec.yaml foo.bar 1", folder)
    assert unknown.returncode == 1 and "cannot import 'foo.bar'" in unknown.stderr
    assert "addresses of this spec: project, dataset.lucy" in unknown.stderr
    clean(unknown)
    no_project = sh("bria-pipeline --sandbox import brand/spec.yaml dataset.lucy 20001", folder)
    assert no_project.returncode == 1 and "no project is named 'hint-brand' yet" in no_project.stderr
    hint = hint_of(no_project.stderr)
    (create,) = commands_in(hint)
    assert create == "bria-pipeline --sandbox apply brand/spec.yaml --target project"
    assert hint.endswith("adopt one by its id: bria-pipeline --sandbox import brand/spec.yaml project ID")
    made = sh(create + " --auto-approve", folder)  # a person answers the prompt; here the flag does
    assert made.returncode == 0, made.stderr
    project_id = re.search(r"created project hint-brand \(id (\d+)\)", made.stdout + made.stderr).group(1)
    imported = sh(f"bria-pipeline --sandbox import brand/spec.yaml project {project_id}", folder)
    assert imported.returncode == 0, imported.stderr
    (plan,) = commands_in(imported.stdout)
    assert plan == "bria-pipeline --sandbox plan brand/spec.yaml"
    planned = sh(plan, folder)
    assert planned.returncode == 0 and "Plan:" in planned.stdout, planned.stderr


def test_lineage_and_damaged_state_hints_refresh_with_the_same_options(folder: Path) -> None:
    first = sh("bria-pipeline --sandbox apply brand/spec.yaml --auto-approve", folder)
    assert first.returncode == 0, first.stderr
    other = write_spec(folder / "other", project="other-brand", images=6)
    (other.parent / ".bria").mkdir()
    shutil.copytree(folder / "brand" / ".bria" / "spec", other.parent / ".bria" / "spec")
    foreign = sh("bria-pipeline --sandbox plan other/spec.yaml", folder)
    assert foreign.returncode == 1 and "belongs to another spec" in foreign.stderr
    refresh, forget = commands_in(hint_of(foreign.stderr))
    assert refresh == "bria-pipeline --sandbox refresh other/spec.yaml"
    assert forget == "bria-pipeline --sandbox state rm other/spec.yaml"
    forgotten = sh(forget, folder)  # the copy is forgotten: the spec plans from nothing
    assert forgotten.returncode == 0, forgotten.stderr
    assert sh("bria-pipeline --sandbox plan other/spec.yaml", folder).returncode == 0
    shutil.rmtree(other.parent / ".bria", ignore_errors=True)
    shutil.copytree(folder / "brand" / ".bria" / "spec", other.parent / ".bria" / "spec")  # copied again
    assert sh("bria-pipeline --sandbox plan other/spec.yaml", folder).returncode == 1
    assert sh(refresh, folder).returncode == 0
    assert sh("bria-pipeline --sandbox plan other/spec.yaml", folder).returncode == 0

    state = folder / "brand" / ".bria" / "spec" / "state.json"
    data = json.loads(state.read_text())
    data["records"][0]["colour"] = "blue"  # a field no version knows
    state.write_text(json.dumps(data))
    damaged = sh("bria-pipeline --sandbox show brand/spec.yaml", folder)
    assert damaged.returncode == 1 and "a record has missing or unknown fields" in damaged.stderr
    clean(damaged)
    hint = hint_of(damaged.stderr)
    assert hint.startswith(f"delete {state.relative_to(folder)} and run ") or hint.startswith(f"delete {state}")
    (refresh,) = commands_in(hint)
    assert refresh == "bria-pipeline --sandbox refresh brand/spec.yaml"
    state.unlink()
    rebuilt = sh(refresh, folder)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "No changes" in sh("bria-pipeline --sandbox plan brand/spec.yaml", folder).stdout

    data = json.loads(state.read_text())
    data["version"] = 99
    state.write_text(json.dumps(data))
    newer = sh("bria-pipeline --sandbox plan brand/spec.yaml", folder)
    assert newer.returncode == 1 and "written by a newer bria-pipeline (state version 99" in newer.stderr
    assert hint_of(newer.stderr).startswith("upgrade bria-pipeline") and "delete" not in hint_of(newer.stderr)
    assert json.loads(state.read_text())["version"] == 99  # left as it was


def test_garbage_plan_file_timeout_and_missing_sandbox_folder_say_what_is_wrong(folder: Path) -> None:
    (folder / "garbage.json").write_bytes(b'{"format": "bria-pipeline-plan", \xff\xfe')
    garbage = sh("bria-pipeline --sandbox apply garbage.json", folder)
    assert garbage.returncode == 1 and "error: garbage.json: not a plan file: byte 0xff at offset 33 is not UTF-8" in garbage.stderr
    clean(garbage)
    zero = sh("bria-pipeline --sandbox plan brand/spec.yaml --timeout 0s", folder)
    assert zero.returncode == 1 and "'0s' leaves no time at all" in zero.stderr and "network" not in zero.stderr
    missing = sh("bria-pipeline sandbox serve --port 0 --db nowhere/sandbox.db", folder, timeout=30)
    assert missing.returncode == 1 and "the folder" in missing.stderr and "nowhere does not exist" in missing.stderr
    assert "sandbox on http" not in missing.stderr  # refused before the banner
    clean(missing)


def test_damaged_journal_hint_moves_only_the_journal_and_pays_nothing(tmp_path: Path) -> None:
    copy_example(tmp_path / "lucy")
    applied = sh("bria-pipeline --sandbox apply lucy/spec.yaml --auto-approve", tmp_path)
    assert applied.returncode == 0, applied.stderr
    journal = tmp_path / "lucy" / "outputs" / "manifest.journal"
    journal.write_text('{"not": "a change"}\n{"drop": "nothing"}\n')  # a bad line that is not the last
    damaged = sh("bria-pipeline --sandbox plan lucy/spec.yaml", tmp_path)
    assert damaged.returncode == 1 and "manifest.journal:1: a journal line is not a valid change" in damaged.stderr
    (move,) = commands_in(hint_of(damaged.stderr))
    assert move.startswith("mv ") and move.endswith("manifest.journal.damaged") and "manifest.json" not in move
    assert sh(move, tmp_path).returncode == 0
    after = sh("bria-pipeline --sandbox plan lucy/spec.yaml", tmp_path)
    assert after.returncode == 0, after.stderr
    assert "No changes" in after.stdout  # nothing generated again, nothing paid
    assert (tmp_path / "lucy" / "outputs" / "manifest.journal.damaged").exists()


def test_a_url_off_the_api_host_answering_401_does_not_blame_the_token(served: str) -> None:
    import asyncio

    from bria_pipeline.api.client import AsyncBriaClient
    from bria_pipeline.api.errors import AuthError

    other_host = served.replace("127.0.0.1", "localhost")  # the same server under another origin

    async def poll_elsewhere() -> AuthError:
        async with AsyncBriaClient(served, token="any-token") as client:
            with pytest.raises(AuthError) as caught:
                await client.get_status_url(f"{other_host}/v2/status/abc")
            return caught.value

    error = asyncio.run(poll_elsewhere())
    assert "BRIA_API_TOKEN" not in (error.hint or "")
    assert "not the API's host" in error.hint and "token was not sent" in error.hint


def test_in_a_run_over_a_folder_each_hint_names_its_own_spec_in_text_and_json(tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        write_spec(tmp_path / "specs" / name, project=f"hint-{name}", images=6)
    state = tmp_path / "specs" / "beta" / ".bria" / "spec" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"version": 1, "records": [{"kind": "project", "colour": "blue"}]}')
    text = sh("bria-pipeline plan specs --sandbox", tmp_path)
    assert text.returncode == 1 and "a record has missing or unknown fields" in text.stderr
    (refresh,) = commands_in(hint_of(text.stderr))
    assert refresh == "bria-pipeline --sandbox refresh specs/beta/spec.yaml"
    as_json = sh("bria-pipeline --log-format json plan specs --sandbox", tmp_path)
    (error,) = [json.loads(line) for line in as_json.stderr.splitlines() if '"level": "error"' in line]
    assert error["spec"] == "specs/beta/spec.yaml" and refresh in error["hint"]
    state.unlink()
    assert sh(refresh, tmp_path).returncode == 0
    assert sh("bria-pipeline plan specs --sandbox", tmp_path).returncode == 0
