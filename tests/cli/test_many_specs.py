"""validate, plan and apply over several specs in one run: each spec on its own state, one broken
spec never hides the others, a summary table at the end, and the worst exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bria_pipeline.cli.run_summary import SpecOutcome, render_table
from bria_pipeline.cli.spec_discovery import find_specs, is_spec_file
from cli_helpers import run, write_spec

pytestmark = pytest.mark.timeout(120)


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The summary table's rows by spec: [result, changes..., requests, time]."""
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("SPEC "))
    rows = {}
    for line in lines[start + 1:-1]:
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def three_brands(specs_dir: Path) -> Path:
    """specs/alpha, specs/beta (good) and specs/broken (an ip_type the API lacks), plus YAML
    that is not a spec: a variables file, a lock file, a CI workflow, state under .bria/."""
    write_spec(specs_dir / "alpha", project="alpha-brand")
    write_spec(specs_dir / "beta", project="beta-brand", images=5)
    write_spec(specs_dir / "broken", project="broken-brand", broken=True)
    (specs_dir / "vars.yaml").write_text("character: Lucy\n")
    (specs_dir / "alpha" / "spec.lock.yaml").write_text("version: 1\nproject: not-really\n")
    (specs_dir / ".github" / "workflows").mkdir(parents=True)
    (specs_dir / ".github" / "workflows" / "plan.yaml").write_text("version: 1\nproject: x\non: push\n")
    (specs_dir / "alpha" / ".bria").mkdir()
    (specs_dir / "alpha" / ".bria" / "old.yaml").write_text("version: 1\nproject: x\n")
    return specs_dir


def test_a_directory_stands_for_the_specs_below_it_and_nothing_else(three_brands: Path) -> None:
    selection = find_specs([three_brands, three_brands / "alpha" / "spec.yaml"])
    assert [p.relative_to(three_brands).as_posix() for p in selection.specs] == [
        "alpha/spec.yaml", "beta/spec.yaml", "broken/spec.yaml"]
    assert [p.name for p in selection.skipped] == ["vars.yaml"]
    assert selection.empty_dirs == ()
    assert is_spec_file(three_brands / "beta" / "spec.yaml") and not is_spec_file(three_brands / "vars.yaml")


def test_var_files_are_never_taken_for_specs(specs_dir: Path) -> None:
    write_spec(specs_dir / "a", project="a")
    odd = specs_dir / "odd-vars.yaml"
    odd.write_text("version: 2\nproject: a variable that happens to be called project\n")
    assert odd in find_specs([specs_dir]).specs
    assert odd not in find_specs([specs_dir], exclude=[odd]).specs


def test_plan_of_a_directory_with_one_broken_spec_reports_every_spec_and_exits_1(three_brands: Path) -> None:
    result = run("--sandbox", "plan", str(three_brands), "--detailed-exitcode")
    assert result.exit_code == 1, result.output
    assert result.stdout.count("bria-pipeline plan: project") == 2  # both good plans are printed
    rows = table_rows(result.stdout)
    alpha, beta, broken = (str(three_brands / name / "spec.yaml") for name in ("alpha", "beta", "broken"))
    assert rows.keys() == {alpha, beta, broken}
    assert rows[alpha][:2] == ["changes", "Plan:"] and rows[beta][:2] == ["changes", "Plan:"]
    assert rows[broken][:4] == ["error", "1", "problem", "in"]
    assert f"error: {broken}: 1 problem in the spec" in result.stderr
    assert "project.ip_type: the string 'no_such_type' is not an allowed value" in result.stderr
    assert "3 specs (changes: 2, error: 1)" in result.stdout
    assert "Traceback" not in result.output


def test_apply_of_a_directory_applies_the_good_specs_despite_a_broken_one(three_brands: Path) -> None:
    applied = run("--sandbox", "apply", str(three_brands), "--auto-approve")
    assert applied.exit_code == 1, applied.output
    rows = table_rows(applied.stdout)
    assert [rows[str(three_brands / n / "spec.yaml")][0] for n in ("alpha", "beta", "broken")] == ["ok", "ok", "error"]
    # each good spec has its own state beside it, and nothing left to do
    for name in ("alpha", "beta"):
        assert (three_brands / name / ".bria" / "sandbox.sqlite").exists()
        again = run("--sandbox", "plan", str(three_brands / name / "spec.yaml"), "--detailed-exitcode")
        assert again.exit_code == 0, again.output
    assert not (three_brands / "broken" / ".bria" / "sandbox.sqlite").exists()


def test_detailed_exitcode_says_changes_then_none_and_error_beats_changes(specs_dir: Path) -> None:
    write_spec(specs_dir / "alpha", project="alpha-brand")
    write_spec(specs_dir / "beta", project="beta-brand")
    folder = str(specs_dir)
    assert run("--sandbox", "plan", folder).exit_code == 0  # changes, but not asked to say so
    assert run("--sandbox", "plan", folder, "--detailed-exitcode").exit_code == 2
    first = run("--sandbox", "apply", folder, "--auto-approve", "--detailed-exitcode")
    assert first.exit_code == 2, first.output  # it changed something
    assert run("--sandbox", "apply", folder, "--auto-approve", "--detailed-exitcode").exit_code == 0
    assert run("--sandbox", "plan", folder, "--detailed-exitcode").exit_code == 0
    write_spec(specs_dir / "alpha", project="alpha-brand", images=7)  # one more image: a change
    assert run("--sandbox", "plan", folder, "--detailed-exitcode").exit_code == 2
    write_spec(specs_dir / "gamma", project="gamma-brand", broken=True)
    mixed = run("--sandbox", "plan", folder, "--detailed-exitcode")
    assert mixed.exit_code == 1 and "changes: 1" in mixed.stdout and "error: 1" in mixed.stdout


def test_validate_takes_directories_too_and_lists_every_spec(three_brands: Path) -> None:
    result = run("validate", str(three_brands))
    assert result.exit_code == 1
    rows = table_rows(result.stdout)
    assert [rows[str(three_brands / n / "spec.yaml")][0] for n in ("alpha", "beta", "broken")] == ["ok", "ok", "error"]
    assert "OK: 1 dataset, 6 images, 0 models, 0 outputs" in result.stdout
    as_json = json.loads(run("validate", str(three_brands), "--format", "json").stdout)
    assert [s["ok"] for s in as_json["specs"]] == [True, True, False] and as_json["ok"] is False


def test_a_directory_without_specs_is_an_error_not_nothing_to_do(specs_dir: Path, tmp_path: Path) -> None:
    write_spec(specs_dir / "alpha", project="alpha-brand")
    empty = tmp_path / "typo"
    empty.mkdir()
    (empty / "notes.yaml").write_text("just: notes\n")
    result = run("validate", str(specs_dir), str(empty))
    assert result.exit_code == 1
    assert f"error: {empty}: no spec below this directory" in result.stderr
    assert "top-level version: and project:" in result.stderr
    assert table_rows(result.stdout)[str(empty)][0] == "error"


def test_the_same_spec_named_twice_runs_once(specs_dir: Path) -> None:
    spec = write_spec(specs_dir / "alpha", project="alpha-brand")
    result = run("validate", str(spec), str(specs_dir))
    assert result.exit_code == 0 and result.stdout.count("OK: ") == 1


def test_markdown_plan_of_several_specs_ends_with_a_markdown_table(three_brands: Path) -> None:
    result = run("--sandbox", "plan", str(three_brands), "--format", "markdown")
    assert result.exit_code == 1
    assert "| Spec | Result | Changes | Requests | Time |" in result.stdout
    assert f"| `{three_brands / 'broken' / 'spec.yaml'}` | **error** | 1 problem in the spec |" in result.stdout
    # the whole error, folded under the table: a pull-request comment says what to fix
    details = result.stdout.split("<details>", 1)[1]
    assert "project.ip_type: the string 'no_such_type' is not an allowed value" in details
    assert "spec.yaml:4:12:" in details and details.rstrip().endswith("</details>")


def test_markdown_plan_of_one_broken_spec_still_writes_the_error_to_stdout(tmp_path: Path) -> None:
    broken = write_spec(tmp_path / "broken", project="broken-brand", broken=True)
    result = run("--sandbox", "plan", str(broken), "--format", "markdown")
    assert result.exit_code == 1
    assert "| **error** | 1 problem in the spec |" in result.stdout and "no_such_type" in result.stdout


def test_json_plan_of_several_specs_is_a_list_and_the_table_goes_to_stderr(three_brands: Path) -> None:
    result = run("--sandbox", "plan", str(three_brands), "--format", "json")
    documents = json.loads(result.stdout)
    assert [Path(d["spec"]).parent.name for d in documents] == ["alpha", "beta"]
    assert "SPEC" in result.stderr and "error" in result.stderr


def test_an_empty_plan_is_no_changes_in_the_table_and_the_table_is_aligned() -> None:
    outcomes = [SpecOutcome("a/spec.yaml", "no changes", "No changes. The remote matches the spec.", 3, 0.21),
                SpecOutcome("much/longer/path/spec.yaml", "changes", "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete.", 12, 1.5)]
    lines = render_table(outcomes).splitlines()
    assert lines[0].split() == ["SPEC", "RESULT", "CHANGES", "REQUESTS", "TIME"]
    assert lines[1].startswith("a/spec.yaml                 no changes  No changes.")
    assert lines[1].index("3  0.2 s") == lines[2].index("12  1.5 s") + 1
    assert lines[-1] == "2 specs (no changes: 1, changes: 1); 15 requests in 1.7 s"
