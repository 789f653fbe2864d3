"""What a refusal says, and what a prune leaves behind: a refused destroy says nothing was deleted
(not "Destroy complete"), a prune refusal lists one address per line, folders of outputs a prune
emptied go too, and deleting a project without trained work is not called deleting trained work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from scenario_helpers import EXAMPLE, MODEL_NAME, changes

from bria_pipeline.apply.errors import ApprovalRequired
from bria_pipeline.cli import main
from bria_pipeline.plan.render_text import render_text

pytestmark = pytest.mark.timeout(60)


def _small_spec(directory: Path) -> Path:
    """A project with one draft dataset of five images and no model."""
    (directory / "images").mkdir(parents=True)
    for n in range(1, 6):
        shutil.copyfile(EXAMPLE / "images" / f"pose-0{n}.png", directory / "images" / f"pose-0{n}.png")
    spec = directory / "spec.yaml"
    spec.write_text(
        "version: 1\nproject: {name: no-models, ip_type: stylized_scene, ip_medium: illustration}\n"
        "datasets:\n  scenes:\n    images: [{path: images/*.png}]\n    complete: false\n",
        encoding="utf-8",
    )
    return spec


def test_a_refused_destroy_says_nothing_was_deleted_and_a_project_without_models_needs_no_approval(tmp_path):
    spec = _small_spec(tmp_path)
    runner = CliRunner()
    applied = runner.invoke(main, ["--sandbox", "apply", str(spec), "--auto-approve"])
    assert applied.exit_code == 0, applied.output

    refused = runner.invoke(main, ["--sandbox", "destroy", str(spec)], input="")
    assert refused.exit_code == 1
    assert "Destroy complete" not in refused.stdout
    assert refused.stdout.rstrip().endswith("Destroy cancelled: nothing was deleted.")
    assert "error: not on a terminal: destroy needs --auto-approve" in refused.stderr
    assert "needs approval" not in refused.stdout  # a project and a draft dataset: no trained work
    assert "- project" in refused.stdout

    done = runner.invoke(main, ["--sandbox", "destroy", str(spec), "--auto-approve"])
    assert done.exit_code == 0, done.output
    assert "Destroy complete: 2 done" in done.stdout


def test_a_prune_refusal_lists_one_address_per_line_and_emptied_output_folders_go(team):
    team.edit("rank: 32", "rank: 64")
    team.apply(auto_approve=True)
    team.edit("rank: 64", "rank: 128")
    team.apply(auto_approve=True)
    now = team.pipeline().desired
    earlier = sorted(set(team.project()["models"]) - {now.models["lucy-lora"].remote_name(now.datasets["lucy"])})
    assert MODEL_NAME in earlier
    team.edit('    - name: portrait\n      structured_prompt:\n        prompt: "A close-up portrait of {{ character }} smiling"\n'
              '        refine: Add soft evening light\n        seed: 7\n      seeds: [3]\n      aspect_ratio: "4:5"\n', "")
    plan = team.plan(prune=True)
    models = sorted(a.address for a in plan.needs_approval if a.address.startswith("model."))
    assert models == sorted(f"model.lucy-lora.version[{name}]" for name in earlier)
    assert len(earlier) == 2
    # the outputs kept aside from the earlier models and the portrait's are paid work too
    outputs = [a for a in plan.needs_approval if not a.address.startswith("model.")]
    assert outputs and all(a.kind == "delete" and a.address.startswith(("generation.", "video.")) for a in outputs)
    assert {a.address for a in outputs} == {a.address for a in plan.actions if a.kind == "delete" and getattr(a.step, "file", None)}
    with pytest.raises(ApprovalRequired) as refused:
        team.pipeline().apply(prune=True)
    lines = str(refused.value).splitlines()
    assert lines[0] == "this plan deletes or supersedes trained work and generated outputs and needs approval:"
    assert lines[1:] == [f"  {a.address}" for a in plan.needs_approval]
    assert "! needs approval: it deletes or supersedes trained work" in render_text(plan)
    assert "! needs approval: it deletes or supersedes a generated output (paid work)" in render_text(plan)

    portrait = team.dir / "outputs" / "portrait"
    assert portrait.is_dir()
    team.apply(prune=True, auto_approve=True)
    assert not portrait.exists()
    assert (team.dir / "outputs" / "places").is_dir()
    assert not team.plan(prune=True).has_changes
