"""A spec's state is found by its lineage, not its folder: `git mv` of a spec folder, in a fresh
clone and in the checkout that applied, bills nothing; a laptop without the backend the lock file
records is refused before any request; `state list/show/mv/rm` do what a team does by hand; every
hint printed is run as printed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from backend_helpers import billed, sandbox_stats, sent
from click.testing import CliRunner

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.errors import StateError
from example_spec import copy_example

TOKEN = "identity-token"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs below take the token from the environment, as a runner does."""
    monkeypatch.setenv("BRIA_API_TOKEN", TOKEN)


def git(cwd: Path, *args: str) -> str:
    import os

    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **GIT_ENV})
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def team_repo(tmp_path: Path) -> Path:
    """A bare origin holding brands/lucy (the example); returns its path."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    copy_example(seed / "brands" / "lucy")
    (seed / ".gitignore").write_text(".bria/\noutputs/\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "lucy")
    git(seed, "push", "-q", "origin", "main")
    return origin


def clone(origin: Path, where: Path, *extra: str) -> Path:
    git(where.parent, "clone", "-q", *extra, origin.as_uri() if extra else str(origin), str(where))
    return where


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    git(repo, "push", "-q", "origin", "main")


def cli(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args))
    import os

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, list(args))
    finally:
        os.chdir(here)


def first_apply(origin: Path, tmp_path: Path, url: str, backend: str) -> Path:
    """Checkout A applies brands/lucy with the backend and commits its lock file."""
    a = clone(origin, tmp_path / "a")
    result = Pipeline(a / "brands/lucy/spec.yaml", api_url=url, token=TOKEN, backend=backend,
                      concurrency=10).apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    commit_all(a, "lock file after the first apply")
    return a


def applied_with_a_file_backend(tmp_path: Path, served) -> tuple[str, str, Path, Path]:
    """(sandbox URL, file:// backend, origin, checkout A that applied brands/lucy)."""
    url, _app = served
    backend = (tmp_path / "backend").as_uri()
    origin = team_repo(tmp_path)
    return url, backend, origin, first_apply(origin, tmp_path, url, backend)


def no_change_run(spec: Path, url: str, backend: str | None) -> tuple:
    """plan then apply; returns (plan, what the sandbox saw)."""
    before = sandbox_stats(url)
    pipeline = Pipeline(spec, api_url=url, token=TOKEN, backend=backend)
    plan = pipeline.plan()
    result = pipeline.apply(auto_approve=True)
    after = sandbox_stats(url)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    return plan, sent(before, after), after["mutating"] - before["mutating"]


def test_git_mv_of_a_spec_folder_bills_nothing_in_a_fresh_clone_nor_in_the_checkout_that_applied(
        tmp_path: Path, served, s3_url: str):
    url, _app = served
    origin = team_repo(tmp_path)
    a = first_apply(origin, tmp_path, url, s3_url)
    record = yaml.safe_load((a / "brands/lucy/spec.lock.yaml").read_text())["state"]
    assert record["backend"] == s3_url and record["key"] == "brands/lucy/spec" and len(record["lineage"]) == 16

    git(a, "mv", "brands/lucy", "brands/lucy-v2")
    commit_all(a, "rename lucy")
    fresh = clone(origin, tmp_path / "b") / "brands/lucy-v2/spec.yaml"
    applied = a / "brands/lucy-v2/spec.yaml"  # its .bria/ and outputs/ moved along (untracked)
    for spec in (applied, fresh):  # each plans before either applies: both find the state at its old key
        plan = Pipeline(spec, api_url=url, token=TOKEN, backend=s3_url).plan()
        assert not plan.has_changes, [(c.address, c.reason) for c in plan.changes]
        assert any(n.startswith("moved from brands/lucy:") for n in plan.notes), plan.notes
    for spec in (applied, fresh):
        plan, routes, mutating = no_change_run(spec, url, s3_url)
        assert not plan.has_changes, [(c.address, c.reason) for c in plan.changes]
        assert billed(routes) == 0 and mutating == 0, routes
    # the state now names the new path; the key (and the lock file's record) stay
    shown = cli("state", "show", str(fresh), "--backend", s3_url)
    assert shown.exit_code == 0, shown.output
    assert f"{s3_url}/brands/lucy/spec/" in shown.output and "spec brands/lucy-v2/spec.yaml" in shown.output
    assert "10 done" in shown.output
    listed = cli("state", "list", "--backend", s3_url)
    assert listed.exit_code == 0 and "brands/lucy/spec  lineage " + record["lineage"] in listed.output, listed.output
    assert "[in this checkout]" in cli("state", "list", "--backend", s3_url, cwd=fresh.parents[2]).output
    # `state push` and `refresh` in the checkout that applied: no circle, both succeed
    assert cli("state", "push", str(a / "brands/lucy-v2/spec.yaml"), "--backend", s3_url).exit_code == 0
    refreshed = cli("refresh", str(a / "brands/lucy-v2/spec.yaml"), "--backend", s3_url, "--api-url", url)
    assert refreshed.exit_code == 0, refreshed.output


def _strip_record(spec: Path) -> None:
    """The lock file as a version before lineages were recorded wrote it."""
    lock = spec.with_name("spec.lock.yaml")
    data = yaml.safe_load(lock.read_text())
    data.pop("state")
    lock.write_text(yaml.safe_dump(data, sort_keys=True))


def test_a_backend_keyed_by_path_is_found_after_a_move_by_git_history_or_by_its_left_behind_state(
        tmp_path: Path, served):
    url, backend, origin, a = applied_with_a_file_backend(tmp_path, served)
    _strip_record(a / "brands/lucy/spec.yaml")
    git(a, "mv", "brands/lucy", "brands/lucy-v2")
    commit_all(a, "rename lucy (its lock file from before lineages)")

    applied = a / "brands/lucy-v2/spec.yaml"  # .bria/ moved along, its state naming brands/lucy/spec.yaml
    full = clone(origin, tmp_path / "full") / "brands/lucy-v2/spec.yaml"  # git log --follow names brands/lucy
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1") / "brands/lucy-v2/spec.yaml"  # no history
    for spec in (applied, full, shallow):  # each plans before any applies
        plan = Pipeline(spec, api_url=url, token=TOKEN, backend=backend).plan()
        assert not plan.has_changes, [(c.address, c.reason) for c in plan.changes]
        assert any(n.startswith("moved from brands/lucy:") for n in plan.notes), plan.notes
    # in the checkout that applied, the commands that went round in a circle both work
    pushed = cli("state", "push", str(applied), "--backend", backend)
    assert pushed.exit_code == 0, pushed.output
    refreshed = cli("refresh", str(applied), "--backend", backend, "--api-url", url)
    assert refreshed.exit_code == 0, refreshed.output
    for spec in (applied, full, shallow):  # the later ones apply after the state was given the new path
        plan, routes, mutating = no_change_run(spec, url, backend)
        assert not plan.has_changes, [(c.address, c.reason) for c in plan.changes]
        assert billed(routes) == 0 and mutating == 0, routes
        assert yaml.safe_load(spec.with_name("spec.lock.yaml").read_text())["state"]["key"] == "brands/lucy/spec"


def test_a_laptop_without_the_backend_is_refused_before_any_request_and_no_backend_says_what_it_costs(
        tmp_path: Path, served, s3_url: str, s3_env: dict):
    url, _app = served
    origin = team_repo(tmp_path)
    first_apply(origin, tmp_path, url, s3_url)
    laptop = clone(origin, tmp_path / "laptop") / "brands/lucy/spec.yaml"
    before = sandbox_stats(url)
    refused = cli("plan", str(laptop), "--api-url", url)
    assert refused.exit_code != 0 and sandbox_stats(url)["total"] == before["total"]  # not one request
    assert f"records that this spec's state lives in the backend {s3_url}" in refused.output, refused.output
    assert f"--backend {s3_url}" in refused.output and f"BRIA_PIPELINE_BACKEND={s3_url}" in refused.output
    with pytest.raises(StateError):
        Pipeline(laptop, api_url=url, token=TOKEN).apply(auto_approve=True)
    assert sandbox_stats(url)["total"] == before["total"]

    # each way the hint names, as printed
    by_flag = cli("plan", str(laptop), "--api-url", url, "--backend", s3_url)
    assert by_flag.exit_code == 0 and "No changes" in by_flag.output, by_flag.output
    by_env = CliRunner(env={"BRIA_PIPELINE_BACKEND": s3_url}).invoke(main, ["plan", str(laptop), "--api-url", url])
    assert by_env.exit_code == 0 and "No changes" in by_env.output, by_env.output
    spec_text = laptop.read_text()
    laptop.write_text(spec_text + f"\nbackend: {{url: {s3_url}}}\n")
    by_spec = cli("plan", str(laptop), "--api-url", url)
    assert by_spec.exit_code == 0 and "No changes" in by_spec.output, by_spec.output
    laptop.write_text(spec_text)

    local = cli("plan", str(laptop), "--api-url", url, "--no-backend")
    assert local.exit_code == 0, local.output
    assert f"WARNING: --no-backend: the state in {s3_url}" in local.output
    assert "10 billed output(s) in this plan may already have been paid for there" in local.output, local.output
    assert sandbox_stats(url)["mutating"] == before["mutating"]


def test_a_spec_applied_without_a_backend_keeps_its_local_state_when_its_folder_moves(tmp_path: Path, served):
    url, _app = served
    origin = team_repo(tmp_path)
    a = clone(origin, tmp_path / "laptop")
    assert Pipeline(a / "brands/lucy/spec.yaml", api_url=url, token=TOKEN, concurrency=10).apply(auto_approve=True).ok
    git(a, "mv", "brands/lucy", "brands/lucy-v2")  # .bria/ and outputs/ move along, untracked
    plan, routes, mutating = no_change_run(a / "brands/lucy-v2/spec.yaml", url, None)
    assert not plan.has_changes and billed(routes) == 0 and mutating == 0, plan.changes
    assert any(n.startswith("moved from brands/lucy:") for n in plan.notes), plan.notes


def test_without_a_backend_outside_ci_the_plan_says_state_is_not_shared(tmp_path: Path, served, monkeypatch):
    url, _app = served
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BRIA_PIPELINE_BACKEND", raising=False)
    origin = team_repo(tmp_path)
    spec = clone(origin, tmp_path / "laptop") / "brands/lucy/spec.yaml"
    plan = Pipeline(spec, api_url=url, token=TOKEN).plan()
    assert plan.notes[0].startswith("no backend: state stays in") and "is not shared" in plan.notes[0]


def hinted(output: str, command: str) -> list[str]:
    """The arguments of the `bria-pipeline COMMAND ...` a message prints, as printed."""
    found = re.search(r"`(bria-pipeline [^`]*?\b" + command + r" [^`]+)`", output.replace("\n    ", " "))
    assert found, output
    return shlex.split(found.group(1))[1:]


@pytest.mark.parametrize("with_working_state", [True, False], ids=["cp -r", "the copy committed, cloned"])
def test_a_copied_folder_is_refused_and_state_rm_as_hinted_gives_the_copy_its_own_state(
        tmp_path: Path, served, with_working_state: bool):
    url, backend, origin, a = applied_with_a_file_backend(tmp_path, served)
    shutil.copytree(a / "brands/lucy", a / "brands/mira",  # its lock file (and .bria/, outputs/ with cp -r) too
                    ignore=None if with_working_state else shutil.ignore_patterns(".bria", "outputs"))
    mira = a / "brands/mira/spec.yaml"
    if with_working_state:
        mira.write_text(mira.read_text().replace("name: lucy-example", "name: mira-example"))
    before = sandbox_stats(url)
    refused = cli("plan", str(mira), "--api-url", url, "--backend", backend)
    assert refused.exit_code != 0 and sandbox_stats(url)["total"] == before["total"]
    assert "the folder was copied" in refused.output, refused.output
    done = cli(*hinted(refused.output, "state rm"), "--backend", backend)
    assert done.exit_code == 0 and "removed the state record" in done.output, done.output
    assert "forgotten" not in done.output  # lucy's state is not touched
    planned = cli("plan", str(mira), "--api-url", url, "--backend", backend)
    assert planned.exit_code == 0, planned.output
    plan, routes, mutating = no_change_run(a / "brands/lucy/spec.yaml", url, backend)  # lucy unaffected
    assert not plan.has_changes and billed(routes) == 0


def test_state_mv_adopts_a_left_behind_state_and_state_rm_forgets_without_deleting(tmp_path: Path, served):
    url, backend, origin, a = applied_with_a_file_backend(tmp_path, served)
    lineage_id = yaml.safe_load((a / "brands/lucy/spec.lock.yaml").read_text())["state"]["lineage"]
    git(a, "rm", "-q", "brands/lucy/spec.lock.yaml")  # no lock file, no history: nothing says where it moved
    git(a, "mv", "brands/lucy", "brands/renamed")
    commit_all(a, "rename, lock file lost")
    spec = clone(origin, tmp_path / "b", "--depth", "1") / "brands/renamed/spec.yaml"

    listed = cli("state", "list", "--backend", backend, cwd=spec.parents[2])
    assert f"brands/lucy/spec  lineage {lineage_id}" in listed.output and "[left behind]" in listed.output
    moved = cli("state", "mv", "brands/lucy/spec", str(spec), "--backend", backend)
    assert moved.exit_code == 0, moved.output
    assert yaml.safe_load(spec.with_name("spec.lock.yaml").read_text())["state"] == {
        "backend": backend, "key": "brands/lucy/spec", "lineage": lineage_id}
    plan, routes, mutating = no_change_run(spec, url, backend)  # the pins come back from the remote, unbilled
    assert not [c for c in plan.changes if c.address.startswith(("generation.", "video."))], plan.changes
    assert billed(routes) == 0 and mutating == 0, routes

    files_before = sorted(p.relative_to(tmp_path / "backend") for p in (tmp_path / "backend").rglob("*") if p.is_file())
    refused = cli("state", "rm", str(spec))  # without the backend the lock file records: nothing done
    assert refused.exit_code != 0 and f"--backend {backend}" in refused.output, refused.output
    assert "lineage:" in spec.with_name("spec.lock.yaml").read_text()
    forgot = cli("state", "rm", str(spec), "--backend", backend)
    assert forgot.exit_code == 0 and "marked the state at" in forgot.output, forgot.output
    assert not spec.with_name("spec.lock.yaml").read_text().count("lineage:")
    files_after = sorted(p.relative_to(tmp_path / "backend") for p in (tmp_path / "backend").rglob("*") if p.is_file())
    assert files_after == files_before  # nothing deleted in the backend
    assert "[forgotten]" in cli("state", "list", "--backend", backend).output
    readopted = cli(*hinted(forgot.output, "state mv"))
    assert readopted.exit_code == 0, readopted.output
    plan, routes, mutating = no_change_run(spec, url, backend)
    assert not plan.has_changes and billed(routes) == 0


def test_a_state_is_read_from_a_commit_root_or_from_the_layout_before_it(tmp_path: Path):
    """Locating reads the lineage both from root.json (the commit root, its state inside) and from
    state.json (the layout before it); `state list` finds both."""
    import json

    from bria_pipeline.state.locate import list_states, read_state
    from bria_pipeline.state.objects import open_store

    store = open_store((tmp_path / "backend").as_uri())
    lineage = {"id": "a" * 16, "project": "lucy-brand", "spec": "brands/lucy/spec.yaml"}
    store.write("brands/lucy/spec/root.json", json.dumps(
        {"format": 2, "serial": 3, "lineage": "a" * 16, "segments": [],
         "state": {"version": 1, "records": [], "lineage": lineage}}).encode())
    store.write("brands/mira/spec/state.json", json.dumps({"version": 1, "records": [], "lineage": {
        "id": "b" * 16, "project": "mira-brand", "spec": "brands/mira/spec.yaml"}}).encode())
    store.write("brands/mira/spec/outputs/x/state.json", b"an output file that happens to be named so")
    assert read_state(store, "brands/lucy/spec")["lineage"] == lineage
    assert read_state(store, "brands/mira/spec")["lineage"]["id"] == "b" * 16
    assert read_state(store, "brands/none/spec") is None
    assert [(e.key, e.lineage["id"]) for e in list_states(store)] == [("brands/lucy/spec", "a" * 16),
                                                                      ("brands/mira/spec", "b" * 16)]
    store.write("brands/bad/spec/state.json", b"[1, 2]")
    with pytest.raises(StateError) as refused:
        read_state(store, "brands/bad/spec")
    assert "brands/bad/spec/state.json in the backend is not a state object" in refused.value.message


@pytest.mark.parametrize("url", ["s3://AKIAKEY:s3cr3t-canary@bucket/bria", "s3://bucket/bria?token=s3cr3t-canary",
                                 "s3://bucket/bria#s3cr3t-canary", "s3://bucket/bria;s3cr3t-canary",
                                 "https://s3cr3t-canary.example/bria"])
def test_a_lock_file_naming_a_backend_url_with_a_secret_is_refused_without_showing_it(tmp_path: Path, url: str):
    from bria_pipeline.lockfile import LockFileError, load_lock

    lock = tmp_path / "spec.lock.yaml"
    lock.write_text(yaml.safe_dump({"version": 1, "state": {"lineage": "a" * 16, "backend": url, "key": "lucy/spec"}}))
    with pytest.raises(LockFileError) as refused:
        load_lock(lock)
    assert "state.backend" in refused.value.message and "s3cr3t-canary" not in refused.value.describe()


def test_a_lock_file_naming_another_lineage_than_the_state_at_its_key_is_refused_and_its_hint_adopts_it(
        tmp_path: Path, served):
    url, backend, origin, a = applied_with_a_file_backend(tmp_path, served)
    spec = a / "brands/lucy/spec.yaml"
    lock = spec.with_name("spec.lock.yaml")
    lock.write_text(lock.read_text().replace(yaml.safe_load(lock.read_text())["state"]["lineage"], "f" * 16))
    shutil.rmtree(spec.parent / ".bria")  # a fresh checkout of that lock file
    shutil.rmtree(spec.parent / "outputs")
    before = sandbox_stats(url)
    refused = cli("plan", str(spec), "--api-url", url, "--backend", backend)
    assert refused.exit_code != 0 and sandbox_stats(url)["total"] == before["total"]
    assert f"with lineage {'f' * 16}, and the state there has lineage" in refused.output, refused.output
    adopted = cli(*hinted(refused.output, "state mv"))
    assert adopted.exit_code == 0, adopted.output
    plan, routes, mutating = no_change_run(spec, url, backend)
    assert not plan.has_changes and billed(routes) == 0 and mutating == 0


def test_the_sandbox_leaves_the_specs_backend_and_the_lock_files_record_alone(tmp_path: Path, served):
    """--sandbox is an organisation of its own: a spec's `backend:` is not used (its state there is
    no sandbox's), a lock file's record is not enforced, and nothing is recorded; --backend still is."""
    url, backend, origin, a = applied_with_a_file_backend(tmp_path, served)
    spec = a / "brands/lucy/spec.yaml"
    lock_text = spec.with_name("spec.lock.yaml").read_text()
    spec.write_text(spec.read_text() + f"\nbackend: {{url: {backend}}}\n")
    listed = sorted((tmp_path / "backend").rglob("*"))
    result = cli("--sandbox", "apply", str(spec), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert sorted((tmp_path / "backend").rglob("*")) == listed  # not read into, not written to
    assert spec.with_name("spec.lock.yaml").read_text() == lock_text
    assert "no backend" not in result.output and "--no-backend" not in result.output
