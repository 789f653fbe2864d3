"""A reviewed plan (`plan --out`) applies exactly what was reviewed, and is refused when the
remote, the spec or the lock file changed since."""

from __future__ import annotations

import pytest
from scenario_helpers import changes

from bria_pipeline.pipeline import load_plan_file, save_plan_file
from bria_pipeline.plan.errors import StalePlanError

pytestmark = pytest.mark.timeout(60)


def test_saved_plan_is_refused_after_the_remote_changed_and_applies_when_made_again(team, tmp_path):
    team.edit("rank: 32", "rank: 64")
    saved = tmp_path / "reviewed.plan.json"
    save_plan_file(team.plan(), saved)
    reviewed = load_plan_file(saved)
    assert changes(reviewed)[:2] == [("model.lucy-lora", "replace"), ("model.lucy-lora.training", "create")]

    async def meanwhile(client):  # a colleague edits the project before the plan is applied
        [project] = await client.list_projects()
        await client.update_project(project.id, project_description="edited meanwhile")

    team.console(meanwhile)
    before = team.stats()
    with pytest.raises(StalePlanError) as refused:
        team.pipeline().apply(load_plan_file(saved), auto_approve=True)
    assert str(refused.value) == "the saved plan is stale: the remote changed since it was made"
    assert refused.value.describe().endswith(f"hint: review a new plan: bria-pipeline plan {team.spec} --out plan.json")
    assert team.stats()["mutating"] == before["mutating"]
    assert len(team.project()["models"]) == 1

    save_plan_file(team.plan(), saved)
    again = load_plan_file(saved)
    assert changes(again)[0] == ("project", "update")
    result = team.apply(again, auto_approve=True)
    assert [s.address for s in result.steps if s.status == "done"][:3] == ["project", "model.lucy-lora", "model.lucy-lora.training"]
    assert len(team.project()["models"]) == 2

    # applied once, the same file is stale: the remote it was made against is gone
    with pytest.raises(StalePlanError):
        team.pipeline().apply(load_plan_file(saved), auto_approve=True)


def test_saved_plan_is_refused_after_the_spec_or_the_lock_file_changed(team, tmp_path):
    saved = tmp_path / "reviewed.plan.json"
    team.edit("rank: 32", "rank: 64")
    save_plan_file(team.plan(), saved)
    team.edit("rank: 64", "rank: 128")
    with pytest.raises(StalePlanError, match="the spec changed since it was made"):
        team.pipeline().apply(load_plan_file(saved), auto_approve=True)
    team.edit("rank: 128", "rank: 64")
    team.lock_file.write_text(team.lock_file.read_text(encoding="utf-8").replace("seed: 7", "seed: 8"), encoding="utf-8")
    with pytest.raises(StalePlanError, match="the lock file changed since it was made"):
        team.pipeline().apply(load_plan_file(saved), auto_approve=True)
