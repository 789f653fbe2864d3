"""A step that gives a model its remote name says so (Step.names_model): the executor names the
models of an apply's outputs from the plan's steps, whatever their types."""

from __future__ import annotations

from plan_builders import dataset, desired

from bria_pipeline.lockfile import Lock
from bria_pipeline.plan.document import plan_from_dict, plan_to_dict
from bria_pipeline.plan.planner import plan
from bria_pipeline.plan.steps import UpdateModel
from bria_pipeline.state.observed import Observed


def test_a_planned_model_is_named_by_its_create_step_even_after_a_plan_file_round_trip():
    d = desired()
    saved = plan_from_dict(plan_to_dict(plan(d, Observed(), Lock())))
    named = [a.step.names_model() for a in saved.actions if a.step is not None and a.step.names_model() is not None]
    assert named == [("lucy-lora", d.models["lucy-lora"].remote_name(dataset()))]


def test_an_update_names_the_model_only_when_it_renames_it():
    assert UpdateModel("lucy-lora", {"name": "lucy-lora-2"}).names_model() == ("lucy-lora", "lucy-lora-2")
    assert UpdateModel("lucy-lora", {"description": "Lucy, retrained"}).names_model() is None

