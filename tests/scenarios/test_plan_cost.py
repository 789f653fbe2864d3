"""The plan says what apply will cost before anything is sent: billed calls by kind and requests,
with the time they take under the user's rate limit; text, JSON and markdown carry the same counts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from bria_pipeline.plan.document import plan_to_dict
from bria_pipeline.plan.render_markdown import render_markdown
from bria_pipeline.plan.render_text import render_text

pytestmark = pytest.mark.timeout(60)

PLAN_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8"))


def test_the_first_plan_counts_billed_work_and_the_requests_apply_then_sends(new_team):
    team = new_team
    plan = team.pipeline(rate_limit_per_minute=60).plan()
    assert plan.summary_line() == (
        "Plan: 26 to create, 3 to update, 0 to replace, 0 to delete. 1 to wait for. "
        "Cost: 1 training, 9 image generations, 2 structured-prompt calls, 1 video, 1 visual-schema generation, "
        "3 refine calls; 34 requests (34 s at 60/min), status polls not counted."
    )
    assert render_text(plan).rstrip().endswith(plan.summary_line())
    document = plan_to_dict(plan)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["summary"]["cost"] == {
        "trainings": 1, "image_generations": 9, "structured_prompts": 2, "videos": 1, "visual_schemas": 1,
        "refines": 3, "billed": 17, "requests": 34, "rate_per_minute": 60,
    }
    markdown = render_markdown(plan)
    assert "| Trainings | Image generations | Structured prompts | Videos | Visual schemas | Refine calls | Requests |" in markdown
    assert "| 1 | 9 | 2 | 1 | 1 | 3 | 34 |" in markdown

    before = team.stats()
    team.apply(plan, auto_approve=True)
    sent = team.sent(before, team.stats())
    billed_routes = {
        "POST /v1/tailored-gen/models/{model_id}/start_training": 1,
        "POST /v2/image/generate/tailored": 9,
        "POST /v2/structured_prompt/generate/tailored": 2,
        "POST /v2/video/generate/tailored/image-to-video": 1,
        "POST /v1/tailored-gen/generate_visual_schema": 1,
        "POST /v1/tailored-gen/refine_structured_prompt": 3,
    }
    assert {route: sent.get(route, 0) for route in billed_routes} == billed_routes
    assert sum(n for route, n in sent.items() if not route.startswith("GET ")) == 34


def test_a_changed_rank_costs_one_training_and_the_outputs_it_makes_again(team):
    team.edit("rank: 32", "rank: 64")
    plan = team.plan()
    cost = plan.cost
    assert (cost.trainings, cost.image_generations, cost.videos, cost.structured_prompts) == (1, 9, 1, 0)
    assert plan.summary_line().endswith(
        "Cost: 1 training, 9 image generations, 1 video; 12 requests, status polls not counted."
    )
    before = team.stats()
    team.apply(plan, auto_approve=True)
    sent = team.sent(before, team.stats())
    assert sum(n for route, n in sent.items() if not route.startswith("GET ")) == 12
