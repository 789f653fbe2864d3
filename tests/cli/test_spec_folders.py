"""Every command that takes a spec takes a folder of specs, as plan and apply do (run_summary.each_spec):
show, refresh, destroy, review, output, state push and pull run once per spec below the folder,
then print the summary table; import and force-unlock take a folder that holds one spec. Through
the CLI, against the in-process sandbox (--sandbox) and a file:// backend."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_helpers import run, write_spec
from test_many_specs import table_rows

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def brands(specs_dir: Path) -> Path:
    """specs/alpha and specs/beta, applied (each its own project), and a variables file beside them."""
    for name in ("alpha", "beta"):
        write_spec(specs_dir / name, project=f"{name}-brand", images=5)
    (specs_dir / "vars.yaml").write_text("character: Lucy\n")
    applied = run("--sandbox", "apply", str(specs_dir), "--auto-approve")
    assert applied.exit_code == 0, applied.stderr
    return specs_dir


def specs_in(table: str, root: Path) -> dict[str, str]:
    return {Path(spec).parent.name: cells[0] for spec, cells in table_rows(table).items()}


def test_show_refresh_review_and_output_run_once_per_spec_below_a_folder(brands: Path) -> None:
    shown = run("--sandbox", "show", str(brands))
    assert shown.exit_code == 0, shown.stderr
    assert re.findall(r"^project\s+(\S+)", shown.stdout, re.M) == ["alpha-brand", "beta-brand"]
    assert specs_in(shown.stdout, brands) == {"alpha": "ok", "beta": "ok"}

    refreshed = run("--sandbox", "refresh", str(brands))
    assert refreshed.exit_code == 0, refreshed.stderr
    assert refreshed.stdout.count("Refreshed ") == 2

    reviewed = run("--sandbox", "review", str(brands))
    assert reviewed.exit_code == 0, reviewed.stderr
    for name in ("alpha", "beta"):
        sheet = brands / name / ".bria" / "spec" / "review.html"
        assert sheet.is_file() and str(sheet) in reviewed.stdout

    output = run("output", str(brands), "project.name")
    assert [line for line in output.stdout.splitlines() if line.endswith("-brand")] == ["alpha-brand", "beta-brand"]


def test_one_broken_spec_is_reported_and_the_others_still_run(brands: Path) -> None:
    write_spec(brands / "broken", project="broken-brand", broken=True)
    shown = run("--sandbox", "show", str(brands))
    assert shown.exit_code == 1
    assert specs_in(shown.stdout, brands) == {"alpha": "ok", "beta": "ok", "broken": "error"}
    assert "broken/spec.yaml" in shown.stderr
    empty = brands / "empty"
    empty.mkdir()
    nothing = run("--sandbox", "show", str(empty))
    assert nothing.exit_code == 1 and f"{empty}: no spec below this directory" in nothing.stderr


def test_import_takes_a_folder_that_holds_one_spec(brands: Path) -> None:
    project_id = json.loads(run("output", str(brands / "alpha"), "project", "--json").stdout)["id"]
    several = run("--sandbox", "import", str(brands), "project", str(project_id))
    assert several.exit_code == 1
    assert "stands for 2 specs" in several.stderr and "import works on one spec, name its file" in several.stderr
    one = run("--sandbox", "import", str(brands / "alpha"), "project", str(project_id))
    assert one.exit_code == 0, one.stderr
    assert f"project 'alpha-brand' (id {project_id}) is now this spec's project" in one.stdout


def test_state_push_and_pull_take_a_folder(brands: Path, tmp_path: Path) -> None:
    backend = f"file://{tmp_path / 'backend'}"
    pushed = run("state", "push", str(brands), "--backend", backend)
    assert pushed.exit_code == 0, pushed.stderr
    assert specs_in(pushed.stdout, brands) == {"alpha": "ok", "beta": "ok"}
    for name in ("alpha", "beta"):
        assert (tmp_path / "backend" / name / "spec" / "root.json").is_file()  # outside a repository: folder/stem
    pulled = run("pull", str(brands), "--backend", backend)
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.stdout.count("Pulled 0 output(s)") == 2


def test_destroy_takes_a_folder(brands: Path) -> None:
    destroyed = run("--sandbox", "destroy", str(brands), "--auto-approve")
    assert destroyed.exit_code == 0, destroyed.stderr
    assert destroyed.stdout.count("Destroy complete:") == 2
    shown = json.loads(run("--sandbox", "show", str(brands), "--json").stdout)
    assert [d["project"] for d in shown] == [None, None]
