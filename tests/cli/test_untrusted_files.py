"""Files from a pull request: spec files confined to their folder, `.bria` never redirected, and
damaged local files (state, lock file) named with what is wrong and how to fix it, before any request.

Every run that could hang or eat memory on a regression runs as a child process with a timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from bria_pipeline.confined import LINK_REFUSED
from cli_helpers import run, run_child, write_spec

pytestmark = pytest.mark.timeout(120)
SECRET = "SECRET-VALUE-0451"


@pytest.fixture
def brands(tmp_path: Path) -> Path:
    """brands/good (a valid spec) and outside/secret.yaml, a spec-shaped file outside brands/."""
    root = tmp_path / "repo" / "brands"
    write_spec(root / "good", project="good-brand")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(
        f"version: 1\nproject:\n  name: {SECRET}\n  ip_type: other\n  ip_medium: photography\n")
    return root


def hostile(brands: Path) -> dict[str, Path]:
    """Spec files a stranger's pull request could add below brands/."""
    made = {name: brands / name / "spec.yaml" for name in ("zero", "fifo", "out", "big")}
    for path in made.values():
        path.parent.mkdir(parents=True)
    made["zero"].symlink_to("/dev/zero")
    os.mkfifo(made["fifo"])
    made["out"].symlink_to(brands.parent.parent / "outside" / "secret.yaml")
    made["big"].write_text("version: 1\nproject: {}\n" + "# padding\n" * 120_000)  # 1.2 MB
    (brands / "linkdir").symlink_to(brands.parent.parent / "outside", target_is_directory=True)
    return made


def test_validate_a_folder_refuses_what_is_not_a_regular_spec_file_inside_it(brands: Path) -> None:
    made = hostile(brands)
    done = run_child("validate", str(brands), timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert f"{made['zero']}:1:1: (file): is a symbolic link to a file outside {made['zero'].parent}" in out
    assert f"{made['fifo']}:1:1: (file): is a named pipe (FIFO), not a regular file" in out
    assert f"{made['out']}:1:1: (file): is a symbolic link to a file outside {made['out'].parent}" in out
    size = made["big"].stat().st_size
    assert f"{made['big']}:1:1: (file): the file is {size:,} bytes; the limit is 1,048,576 bytes" in out
    assert f"OK: 1 dataset, 6 images, 0 models, 0 outputs ({brands / 'good' / 'spec.yaml'})" in out
    assert SECRET not in out
    assert "linkdir" not in out  # a symbolic link to a folder is not followed


def test_the_pr_comment_never_shows_values_of_a_file_outside_the_folder(brands: Path) -> None:
    made = hostile(brands)
    done = run_child("--sandbox", "plan", str(brands), "--format", "markdown", timeout=60)
    assert done.returncode == 1
    assert SECRET not in done.stdout + done.stderr
    assert f"`{made['out']}` | **error**" in done.stdout


def test_a_spec_named_directly_is_confined_too_unless_allowed(brands: Path) -> None:
    made = hostile(brands)
    done = run_child("validate", str(made["zero"]), str(made["fifo"]), str(made["out"]), timeout=60)
    assert done.returncode == 1 and SECRET not in done.stdout + done.stderr
    assert done.stdout.count("FAILED: 1 error") == 3
    trusted = run_child("validate", "--allow-outside", str(made["out"]), str(made["fifo"]), timeout=60)
    assert f"OK: 0 datasets, 0 images, 0 models, 0 outputs ({made['out']})" in trusted.stdout  # a link vouched for
    assert f"{made['fifo']}:1:1: (file): is a named pipe (FIFO), not a regular file" in trusted.stdout


def test_a_link_inside_the_folder_is_fine_and_a_var_file_must_be_a_regular_file(tmp_path: Path) -> None:
    real = write_spec(tmp_path / "brand", project="linked-inside", name="real.yaml")
    (real.parent / "spec.yaml").symlink_to("real.yaml")
    assert run("validate", str(real.parent / "spec.yaml")).exit_code == 0
    fifo = tmp_path / "vars.yaml"
    os.mkfifo(fifo)
    done = run_child("validate", "--var-file", str(fifo), str(real), timeout=60)
    assert done.returncode == 1
    assert f"{fifo}:1:1: (file): is a named pipe (FIFO), not a regular file" in done.stdout


@pytest.mark.parametrize("link", [".bria", ".bria/spec", ".bria/spec/apply.lock", ".bria/spec/state.json"])
def test_a_committed_bria_symlink_never_redirects_state_or_caches(tmp_path: Path, link: str) -> None:
    spec = write_spec(tmp_path / "brand", project="linked-brand")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (spec.parent / link).parent.mkdir(parents=True, exist_ok=True)
    target = elsewhere if link.count("/") < 2 and not link.endswith(".json") else elsewhere / "precious.txt"
    if target != elsewhere:
        target.write_text("keep me\n")
    (spec.parent / link).symlink_to(target, target_is_directory=target == elsewhere)
    checked = run("validate", str(spec))
    assert checked.exit_code == 1
    assert f"{spec.parent / link}: {LINK_REFUSED}" in checked.stdout
    for command in (["plan", str(spec)], ["apply", str(spec), "--auto-approve"], ["refresh", str(spec)],
                    ["show", str(spec)], ["destroy", str(spec), "--auto-approve"]):
        result = run("--sandbox", *command)
        assert result.exit_code == 1, (command, result.output)
        assert "is a symbolic link" in result.stderr and "unexpected" not in result.stderr
    assert [p.name for p in elsewhere.iterdir()] == ([] if target == elsewhere else ["precious.txt"])
    assert target == elsewhere or target.read_text() == "keep me\n"


# --- damaged local files ---------------------------------------------------------------------


def _requests(url: str) -> int:
    return httpx.get(f"{url}/_sandbox/stats").json()["total"]


def _applied(spec: Path, url: str) -> None:
    result = run("--api-url", url, "apply", str(spec), "--auto-approve", env={"BRIA_API_TOKEN": "tok-untrusted-1"})
    assert result.exit_code == 0, result.output
    httpx.post(f"{url}/_sandbox/reset")


def test_binary_garbage_in_state_json_names_the_file_and_the_fix(tmp_path: Path, served: str) -> None:
    spec = write_spec(tmp_path / "brand", project="garbage-state")
    _applied(spec, served)
    state = spec.parent / ".bria" / "spec" / "state.json"
    state.write_bytes(b"\x89\xff\xfe\x00garbage\x80")
    result = run("--api-url", served, "plan", str(spec), env={"BRIA_API_TOKEN": "tok-untrusted-1"})
    assert result.exit_code == 1
    assert f"{state}: not a state file: byte 0x89 at offset 0 is not UTF-8 (the file is damaged)" in result.stderr
    # the hint's command is the one to run: with this run's --api-url, naming this spec
    assert f"hint: delete {state} and run `bria-pipeline --api-url {served} refresh {spec}`" in result.stderr
    assert "unexpected" not in result.stderr and _requests(served) == 0


def test_binary_garbage_in_the_lock_file_names_the_file_and_the_fix(tmp_path: Path, served: str) -> None:
    spec = write_spec(tmp_path / "brand", project="garbage-lock")
    lock = spec.with_name("spec.lock.yaml")
    lock.write_bytes(b"version: 1\n\xff\xfe garbage")
    for args in (["validate", str(spec)], ["--api-url", served, "apply", str(spec), "--auto-approve"]):
        result = run(*args, env={"BRIA_API_TOKEN": "tok-untrusted-1"})
        assert result.exit_code == 1
        assert f"{lock}:2:1: (lock file): not a text file: byte 0xff at offset 11 is not UTF-8" in result.output
        assert "git checkout --" in result.output and "unexpected" not in result.output
    assert _requests(served) == 0


def test_a_lock_file_that_is_a_device_or_a_link_out_is_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="zero-lock")
    spec.with_name("spec.lock.yaml").symlink_to("/dev/zero")
    done = run_child("--sandbox", "plan", str(spec), timeout=60)
    assert done.returncode == 1
    assert f"{spec.with_name('spec.lock.yaml')}: is a symbolic link to a file outside {spec.parent}" in done.stderr


def test_an_invalid_schema_pin_is_refused_with_its_line_before_any_request(tmp_path: Path, served: str) -> None:
    spec = write_spec(tmp_path / "brand", project="bad-pin", complete=True)
    _applied(spec, served)
    lock = spec.with_name("spec.lock.yaml")
    text = lock.read_text()
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if row.strip().startswith("schema:"))
    lock.write_text(text.replace("schema: '{", "schema: 'not json {", 1))
    spec.write_text(spec.read_text().replace("caption: {subject: Lucy waving", "caption: {subject: Lucy running"))
    checked = run("validate", str(spec))
    assert checked.exit_code == 1
    assert f"{lock}:{line}:" in checked.stdout and "schema is not valid JSON" in checked.stdout
    assert "set as the dataset's visual_schema, which the API takes only as a JSON text" in checked.stdout
    applied = run("--api-url", served, "apply", str(spec), "--auto-approve", env={"BRIA_API_TOKEN": "tok-untrusted-1"})
    assert applied.exit_code == 1 and "schema is not valid JSON" in applied.stderr
    assert _requests(served) == 0  # no clone of a draft, nothing at all


def test_a_rate_limit_of_zero_is_a_usage_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="zero-rate")
    for rate in ("0/min", "0", "0.0/s"):
        result = run("--sandbox", "apply", str(spec), "--auto-approve", "--rate-limit", rate)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: Invalid value for '--rate-limit'")
        assert f"'{rate}' allows no request at all; give a rate above zero" in result.stderr
        assert "unexpected" not in result.stderr
    assert not (spec.parent / ".bria" / "spec").exists()
