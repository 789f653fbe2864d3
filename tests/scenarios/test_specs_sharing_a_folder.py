"""Two specs in one folder never share outputs: each has its own output folder by default, `--prune`
of one never touches the other's files (also where an old layout still shares one manifest), and
outputs made when the default output folder was `outputs/` are moved, never generated again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from scenario_helpers import OUTPUTS, changes

from bria_pipeline.apply.errors import ApprovalRequired
from bria_pipeline.pipeline import Pipeline

pytestmark = pytest.mark.timeout(90)

ICONS = """\
version: 1
project: {name: icons-example, ip_type: icons, ip_medium: illustration}
datasets:
  icons:
    images: [{path: images/pose-*.png}]
    visual_schema:
      samples: [images/pose-01.png, images/pose-03.png, images/pose-05.png, images/pose-07.png, images/pose-09.png]
models:
  icons-lora: {dataset: icons, training_mode: fully_automated}
generate:
  model: icons-lora
OUTPUT_DIR
  images:
    - {name: app, prompt: "an app icon of a {{ thing }}", matrix: {thing: [cat, dog]}, seeds: [1, 2]}
    - {name: settings, prompt: a settings gear icon, seeds: [5]}
"""


def files_of(folder: Path) -> dict[str, str]:
    """Every file below `folder` (relative path -> sha256), the gallery's own files aside."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("index.html", "manifest.json") and ".thumbs" not in p.parts
    }


def icons_pipeline(team, **kw) -> Pipeline:
    return team.pipeline(team.dir / "icons.yaml", **kw)


def add_icons(team, output_dir: str | None = None) -> None:
    line = f"  output_dir: {output_dir}" if output_dir else ""
    (team.dir / "icons.yaml").write_text(ICONS.replace("OUTPUT_DIR", line), encoding="utf-8")


def drop_settings_set(team) -> None:
    spec = team.dir / "icons.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("    - {name: settings, prompt: a settings gear icon, seeds: [5]}\n", ""), encoding="utf-8")


def test_an_old_default_output_folder_is_found_and_moved_without_a_request(team):
    """examples/lucy applied when its outputs went to outputs/: with output_dir left out they now
    belong in outputs/spec/. The plan finds them there, apply moves them: nothing is paid again."""
    before_files = files_of(team.dir / "outputs")
    assert len([f for f in before_files if not f.endswith(".journal")]) == len(OUTPUTS)
    team.edit("  output_dir: outputs\n", "")

    plan = team.plan()
    assert changes(plan) == []
    assert not plan.billed
    assert any("moved to outputs/spec/ by apply" in note for note in plan.notes), plan.notes

    stats = team.stats()
    team.apply()
    assert team.stats()["mutating"] == stats["mutating"]  # not one generation sent again
    assert files_of(team.dir / "outputs" / "spec") == before_files  # byte-identical, in the new folder
    assert not (team.dir / "outputs" / "manifest.json").exists()
    assert not (team.dir / "outputs" / "index.html").exists()
    assert sorted(p.name for p in (team.dir / "outputs").iterdir()) == ["spec"]  # emptied folders removed
    assert (team.dir / "outputs" / "spec" / "index.html").is_file()
    records = json.loads((team.dir / "outputs" / "spec" / "manifest.json").read_text())["outputs"]
    assert {r["spec"] for r in records.values()} == {"spec.yaml"}
    again = team.plan()
    assert changes(again) == [] and not any("moved" in n for n in again.notes)


def test_prune_of_one_spec_never_touches_the_other_specs_outputs(team):
    team.edit("  output_dir: outputs\n", "")  # both specs on the default: a folder each
    team.apply()
    lucy = files_of(team.dir / "outputs" / "spec")
    add_icons(team)
    icons_pipeline(team).apply(auto_approve=True)
    assert len(files_of(team.dir / "outputs" / "icons")) == 5

    drop_settings_set(team)
    plan = icons_pipeline(team).plan(prune=True)
    deleted = [a for a in plan.actions if a.kind == "delete"]
    assert [a.address for a in deleted] == ["generation.settings[seed5]"]
    assert all(a.approval for a in deleted)  # a paid output: deleted only with approval
    result = icons_pipeline(team).apply(prune=True, auto_approve=True)
    assert result.ok
    assert sorted(files_of(team.dir / "outputs" / "icons")) == [f"app/{t}-seed{s}.png" for t in ("cat", "dog") for s in (1, 2)]
    assert files_of(team.dir / "outputs" / "spec") == lucy
    assert changes(team.plan(prune=True)) == []  # lucy's plan sees every output of its own in place


def test_prune_in_a_folder_two_specs_still_share_deletes_only_its_own_records(team):
    """The layout of the report: two specs writing into one outputs/ (validate now refuses it),
    lucy's records made before outputs were stamped with their spec. icons.yaml --prune deletes
    its own retired output, and not one of lucy's 10 paid outputs."""
    manifest = team.dir / "outputs" / "manifest.json"
    data = json.loads(manifest.read_text())
    for record in data["outputs"].values():
        record.pop("spec", None)  # as written before records were stamped
    manifest.write_text(json.dumps(data))
    lucy = files_of(team.dir / "outputs")
    add_icons(team, "outputs")
    icons_pipeline(team).apply(auto_approve=True)

    drop_settings_set(team)
    plan = icons_pipeline(team).plan(prune=True)
    assert [a.address for a in plan.actions if a.kind == "delete"] == ["generation.settings[seed5]"]
    summary = plan.action("generation").reason
    assert f"{len(OUTPUTS)} made by another spec in outputs/ (never touched)" in summary
    icons_pipeline(team).apply(prune=True, auto_approve=True)
    after = files_of(team.dir / "outputs")
    assert {f: h for f, h in after.items() if f in lucy} == lucy
    assert not (team.dir / "outputs" / "settings").exists() or not any((team.dir / "outputs" / "settings").iterdir())
    assert changes(team.plan()) == []


def test_deleting_generated_outputs_needs_approval_like_trained_work(team):
    team.edit("      seeds: [1, 2]\n", "      seeds: [1]\n")  # places: 4 of its 8 outputs leave the spec
    plan = team.plan(prune=True)
    deleted = [a for a in plan.actions if a.kind == "delete"]
    assert len(deleted) == 4 and all(a.approval for a in deleted)
    assert plan.needs_approval == tuple(deleted)
    before = files_of(team.dir / "outputs")
    with pytest.raises(ApprovalRequired, match="generated outputs"):
        team.pipeline().apply(prune=True)
    assert files_of(team.dir / "outputs") == before  # refused: nothing deleted
    # without --prune nothing is deleted, so nothing needs approval
    assert not team.plan().needs_approval
    team.apply(prune=True, auto_approve=True)
    assert len(files_of(team.dir / "outputs")) == len(before) - 4
