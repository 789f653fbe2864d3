"""A training sweep over weeks: `show` lists each earlier version under the member trained with
its values, a prune's addresses keep the member, and remote models sharing one name say so."""

from __future__ import annotations

import pytest
from scenario_helpers import MODEL_NAME

from bria_pipeline.cli.resource_cmds import state_text

pytestmark = pytest.mark.timeout(60)

SLOW, FAST = "lucy-lora[learning_rate=0.0001]", "lucy-lora[learning_rate=0.0005]"


def _sweep(team) -> None:
    team.edit("      learning_rate: 0.0001\n", "")
    team.edit("    checkpoint: latest", "    sweep: {learning_rate: [0.0001, 0.0005]}\n    checkpoint: latest")
    team.edit("from: places/beach-dawn-seed1", "from: places/learning-rate-0-0001/beach-dawn-seed1")


def test_earlier_versions_stay_with_their_own_member_in_show_and_prune(team):
    _sweep(team)
    team.apply(auto_approve=True)
    first = {key: m["name"] for key, m in ((m["key"], m) for m in team.pipeline().show()["models"])}
    assert first[SLOW] == MODEL_NAME  # the model trained before the sweep is the first member's
    team.edit("rank: 32", "rank: 64")
    team.apply(auto_approve=True)

    shown = team.pipeline().show()["models"]
    by_member = {(m["key"], m["current"]): m for m in shown}
    assert sorted((m["key"], m["current"], m["parameters"]["learning_rate"], m["parameters"]["rank"]) for m in shown) == [
        (SLOW, False, 0.0001, 32), (SLOW, True, 0.0001, 64), (FAST, False, 0.0005, 32), (FAST, True, 0.0005, 64),
    ]
    assert by_member[(SLOW, False)]["name"] == first[SLOW] and by_member[(FAST, False)]["name"] == first[FAST]

    plan = team.plan(prune=True)
    assert sorted((a.address, a.kind) for a in plan.changes if a.address.startswith("model.")) == sorted([
        (f"model.{SLOW}.version[{first[SLOW]}]", "delete"),
        (f"model.{FAST}.version[{first[FAST]}]", "delete"),
    ])


def test_remote_models_sharing_one_name_are_shown_as_such(team):
    async def twin(client):
        [project] = await client.list_projects()
        [model] = await client.list_project_models(project.id)
        await client.create_model(MODEL_NAME, model.dataset_id, training_mode="expert")

    team.console(twin)
    state = team.pipeline().show()
    assert [(m["name"], m["same_name"]) for m in state["models"]] == [(MODEL_NAME, 2), (MODEL_NAME, 2)]
    assert state_text(state).count("(2 models share this name)") == 2
