"""The decisions file beside the spec (spec.decisions.yaml), obeyed by plan and apply: an approved
output survives a retrain and --prune, a rejected one is deleted by --prune or generated again with
another seed, an excluded training image leaves the next dataset version, a caption fix is sent as
a manual caption; a broken decisions file is refused like a broken spec."""

from __future__ import annotations

import json

import pytest
from scenario_helpers import changes

from bria_pipeline.plan.errors import StalePlanError
from bria_pipeline.plan.render_text import render_text
from bria_pipeline.reports.gallery import output_address
from bria_pipeline.spec import SpecErrors
from bria_pipeline.state.manifest import Manifest

pytestmark = pytest.mark.timeout(90)

BEACH = "generation.places[beach-dawn-seed1]"
CITY = "generation.places[city-night-seed2]"


def records(team) -> dict[str, object]:
    manifest = Manifest.load(team.dir / "outputs")
    return {output_address(r): r for r in manifest if not r.retired}


def write_decisions(team, text: str) -> None:
    (team.dir / "spec.decisions.yaml").write_text("version: 1\n" + text, encoding="utf-8")


def test_a_rejected_output_is_deleted_by_prune_and_nothing_else(team):
    now = records(team)
    write_decisions(team, f"outputs:\n  {BEACH}:\n    decision: reject\n    key: {now[BEACH].key}\n"
                          f"  {CITY}:\n    decision: approve\n    key: {now[CITY].key}\n")
    plan = team.plan()
    assert changes(plan) == []  # without --prune a rejected output stays on disk
    assert "reviewed: 1 approved, 1 rejected, 8 undecided" in plan.action("generation").reason
    assert "Note: outputs reviewed: 1 approved, 1 rejected, 8 undecided (in spec.decisions.yaml)" in render_text(plan)

    plan = team.plan(prune=True)
    assert changes(plan) == [(BEACH, "delete")]
    assert plan.action(BEACH).reason.startswith("rejected in spec.decisions.yaml, --prune: delete places/beach-dawn-seed1.png")
    before = {p.relative_to(team.dir) for p in (team.dir / "outputs").rglob("*.png")}
    team.apply(plan, auto_approve=True)
    after = {p.relative_to(team.dir) for p in (team.dir / "outputs").rglob("*.png")}
    assert before - after == {team.dir.joinpath("outputs/places/beach-dawn-seed1.png").relative_to(team.dir)}
    assert not team.plan(prune=True).has_changes  # not generated again: it was rejected


def test_a_rejected_output_asked_again_is_generated_with_another_seed_billed(team):
    key = records(team)[BEACH].key
    write_decisions(team, f"outputs:\n  {BEACH}:\n    decision: reject\n    key: {key}\n    regenerate: true\n")
    plan = team.plan()
    [(address, kind)] = changes(plan)
    assert kind == "create" and address.startswith("generation.places[beach-dawn-seed") and address != BEACH
    action = plan.action(address)
    assert action.billed
    assert action.reason.startswith(f"{BEACH} was rejected in spec.decisions.yaml: generated again with seed ")
    team.apply(plan, auto_approve=True)
    assert address in records(team)
    assert not team.plan().has_changes


def test_an_approved_output_survives_a_retrain_and_a_prune(team):
    approved = records(team)[BEACH]
    write_decisions(team, f"outputs:\n  {BEACH}:\n    decision: approve\n    key: {approved.key}\n    note: the one\n")
    team.edit("rank: 32", "rank: 16")
    plan = team.plan(prune=True)
    assert "as it is approved in spec.decisions.yaml" in plan.action(BEACH).reason
    team.apply(plan, auto_approve=True)
    manifest = Manifest.load(team.dir / "outputs")
    kept = manifest.get(approved.key)
    assert kept is not None and kept.file and (team.dir / "outputs" / kept.file).is_file()
    assert (team.dir / "outputs" / kept.file).read_bytes() != (team.dir / "outputs/places/beach-dawn-seed1.png").read_bytes()
    # the gallery shows it beside the new output of the same prompt and seed, labelled with what differs
    page = (team.dir / "outputs" / "index.html").read_text(encoding="utf-8")
    assert f"{approved.model_name} (rank 32)" in page and 'class="grid versions"' in page
    # the other earlier outputs were pruned; the approved one stays through later prunes too
    assert sum(1 for r in manifest if r.retired and r.kind == "image") == 1
    assert not any(a.address.startswith("generation.places[beach-dawn-seed1") and a.kind == "delete"
                   for a in team.plan(prune=True).actions)


def test_an_excluded_training_image_makes_a_new_dataset_version_without_it(team):
    write_decisions(team, "images:\n  lucy:\n    images/pose-06.png:\n      exclude: true\n      reason: hand drawn wrong\n")
    plan = team.plan()
    dataset = plan.action("dataset.lucy")
    assert dataset.kind == "replace"
    assert dataset.reason.endswith("; excluded in spec.decisions.yaml: images/pose-06.png (hand drawn wrong)")
    team.apply(plan, auto_approve=True)
    datasets = team.project()["datasets"]
    assert len(datasets) == 2
    newest = [d for name, d in datasets.items() if name == team.pipeline().desired.datasets["lucy"].remote_name][0]
    names = [i if isinstance(i, str) else i["image_name"] for i in newest["images"]]
    assert len(names) == 9 and not any(n.startswith("pose-06.") for n in names)


def test_a_caption_fix_is_sent_as_a_manual_caption(team):
    caption = json.dumps({"subject": "Lucy, purple hair, red boots"})
    write_decisions(team, f"images:\n  lucy:\n    images/pose-05.png:\n      caption: '{caption}'\n")
    image = next(i for i in team.pipeline().desired.datasets["lucy"].images if i.key == "images/pose-05.png")
    assert image.caption == caption


@pytest.mark.parametrize("text, where, message, hint", [
    ("outputs:\n  generation.places[x]:\n    decision: maybe\n", 4, "the string 'maybe' is not an allowed value", "allowed: approve, reject"),
    ("images:\n  lucky:\n    images/pose-01.png:\n      exclude: true\n      reason: x\n", 3, "the spec has no dataset 'lucky'", "did you mean 'lucy'?"),
    ("images:\n  lucy:\n    images/pose-1.png:\n      exclude: true\n", 4, "dataset 'lucy' has no training image 'images/pose-1.png'", "did you mean"),
    ("outputs:\n  generation.places[x]:\n    regenerate: true\n", 4, "regenerate is for a rejected output", "add 'decision: reject'"),
    ("outputs:\n  video.beach-wave:\n    decision: reject\n    regenerate: true\n", 5,
     "a video is generated again from its source image, not a seed", "reject the source image"),
    ("outputs:\n  places[x]:\n    decision: reject\n", 3, "'places[x]' is not a valid name here",
     "an output's address, as the plan prints it: generation.<set>[<name>] or video.<name>"),
])
def test_a_broken_decisions_file_is_refused_with_file_line_and_fix(team, text, where, message, hint):
    write_decisions(team, text)
    with pytest.raises(SpecErrors) as caught:
        team.pipeline().validate()
    [problem] = caught.value.errors
    assert problem.file.endswith("spec.decisions.yaml") and problem.line == where, problem
    assert problem.message == message and (hint is None or hint in (problem.hint or ""))


def test_show_counts_decisions_and_the_static_gallery_shows_them_read_only(team):
    now = records(team)
    write_decisions(team, f"outputs:\n  {BEACH}:\n    decision: approve\n    key: {now[BEACH].key}\n    note: on brand\n"
                          f"  {CITY}:\n    decision: reject\n    key: {now[CITY].key}\n")
    state = team.pipeline().show()
    assert {k: state["outputs"][k] for k in ("approved", "rejected", "undecided")} == \
        {"approved": 1, "rejected": 1, "undecided": 8}
    team.apply(team.plan(), auto_approve=True)  # nothing to do; the gallery is written again
    page = (team.dir / "outputs" / "index.html").read_text(encoding="utf-8")
    assert "reviewed: <span data-count=\"approved\">1</span> approved" in page
    assert f'data-key="{now[BEACH].key}"' in page and "on brand" in page
    assert "<script" not in page and "<button" not in page  # read-only: no buttons, no script


def test_a_saved_plan_is_refused_once_the_decisions_changed(team, tmp_path):
    key = records(team)[BEACH].key
    write_decisions(team, "")
    saved = team.plan(prune=True)
    write_decisions(team, f"outputs:\n  {BEACH}:\n    decision: reject\n    key: {key}\n")
    assert team.pipeline().desired.source_hash != saved.source_hash
    with pytest.raises(StalePlanError, match="the saved plan is stale: the spec changed"):
        team.apply(saved, auto_approve=True)
