"""`cp -r brands/lucy brands/mira` brings the untracked .bria/ along; names are edited. The copy's
state belongs to the original spec: it is never used to act (no rename of the original project,
no destroy of its model), and `refresh` adopts by name what the copy's own project has."""

from __future__ import annotations

import shutil

import pytest
from scenario_helpers import MODEL_NAME

from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.lineage import LineageError
from bria_pipeline.state.store import StateStore

pytestmark = pytest.mark.timeout(60)


def test_a_copied_folder_never_acts_on_the_original_project(team):
    lineage = StateStore.for_spec(team.spec).lineage
    assert lineage["project"] == "lucy-example" and lineage["spec"] == "lucy/spec.yaml" and len(lineage["id"]) == 16
    mira = team.root / "mira"
    shutil.copytree(team.dir, mira)
    spec = mira / "spec.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("name: lucy-example", "name: mira-example")
                    .replace("character: Lucy", "character: Mira"), encoding="utf-8")
    original = team.remote()
    before = team.stats()

    def copy_pipeline() -> Pipeline:
        return team.pipeline(spec)  # closed with the team

    for attempt in (lambda p: p.plan(), lambda p: p.apply(auto_approve=True), lambda p: p.destroy(auto_approve=True)):
        with pytest.raises(LineageError) as refused:
            attempt(copy_pipeline())
        assert "belongs to another spec" in refused.value.message
        assert "made for project 'lucy-example' (spec lucy/spec.yaml)" in refused.value.message
        assert f"bria-pipeline refresh {spec}" in refused.value.hint and "delete" in refused.value.hint
    assert team.stats()["total"] == before["total"]  # stopped before any request
    assert team.remote() == original

    copy_pipeline().refresh()  # adopt by name: no project named mira-example yet, nothing recorded
    adopted = StateStore.for_spec(spec)
    assert adopted.records == [] and adopted.lineage["project"] == "mira-example" and adopted.lineage["id"] != lineage["id"]
    result = copy_pipeline().apply(auto_approve=True)
    assert result.ok, [s for s in result.steps if s.status != "done"]
    remote = team.remote()
    assert set(remote) == {"lucy-example", "mira-example"}
    assert remote["lucy-example"] == original["lucy-example"]  # neither renamed nor touched
    assert not team.plan().has_changes  # the original is no one's drift: no renaming back and forth
    destroyed = copy_pipeline().destroy(auto_approve=True)
    assert destroyed.ok
    assert set(team.remote()) == {"lucy-example"} and MODEL_NAME in team.remote()["lucy-example"]["models"]
