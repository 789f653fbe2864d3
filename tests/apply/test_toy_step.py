"""A new step type is one declaration and one handler, in one file: this one. It goes through the
plan (text and cost), the plan file (JSON out and back, valid against the plan schema with the
schema its class makes), and apply against the real sandbox, with nothing registered anywhere else."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import jsonschema
import pytest

from bria_pipeline.api import AsyncBriaClient
from bria_pipeline.apply.context import ApplyOptions, RemoteIndex, Run
from bria_pipeline.apply.errors import StillRunning
from bria_pipeline.apply.executor import execute
from bria_pipeline.apply.handlers import handles, unhandled
from bria_pipeline.lockfile import Lock
from bria_pipeline.model import Desired, DesiredProject
from bria_pipeline.plan.actions import Action
from bria_pipeline.plan.cost import Cost
from bria_pipeline.plan.document import Plan, plan_from_dict, plan_to_dict
from bria_pipeline.plan.render_text import render_text
from bria_pipeline.plan.step_schema import package_step_types, with_steps
from bria_pipeline.plan.steps import Concurrency, Step
from bria_pipeline.sandbox import create_app
from bria_pipeline.state.observed import Observed
from bria_pipeline.state.store import StateStore

pytestmark = pytest.mark.timeout(60)
PLAN_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"


@dataclass(frozen=True)
class DescribeProject(Step):
    """Set the project's description; `review` leaves it waiting on a review (still running)."""

    TAG: ClassVar[str] = "test_describe_project"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "review"
    REQUESTS: ClassVar[int] = 1
    project_id: int
    description: str
    review: bool = False

    def cost(self) -> Cost:
        return Cost(refines=1 if self.review else 0, requests=self.REQUESTS)


@handles(DescribeProject)
async def describe_project(run: Run, step: DescribeProject) -> str:
    await run.client.update_project(step.project_id, project_description=step.description)
    if step.review:
        raise StillRunning(f"{run.address}: described, the review is still open")
    return f"described project {step.project_id}"


def _run(client: AsyncBriaClient, root: Path) -> Run:
    desired = Desired(root / "spec.yaml", root, DesiredProject("toy", "defined_character", "photography"), {}, {})
    return Run(client, desired, StateStore(root / "state.json"), Lock(), root / "spec.lock.yaml",
               RemoteIndex({}, Observed(), desired), ApplyOptions(concurrency=1))


def test_a_step_type_declared_in_one_file_is_planned_costed_saved_and_applied(tmp_path):
    app = create_app(tmp_path / "sandbox.sqlite")
    events: list[tuple[str, str]] = []

    async def scenario() -> None:
        async with AsyncBriaClient(api_url="http://sandbox", transport=httpx.ASGITransport(app=app),
                                   sandbox=True) as client:
            project = await client.create_project("toy", ip_medium="photography", ip_type="defined_character",
                                                  ip_name="Toy", ip_description="a toy")
            actions = (
                Action("dataset.toy.describe", "update", "say what the project is",
                       step=DescribeProject(project.id, "a toy project")),
                Action("dataset.toy.review", "update", "ask for a review", depends_on=("dataset.toy.describe",),
                       step=DescribeProject(project.id, "under review", review=True)),
                Action("dataset.toy.after", "update", "once reviewed", depends_on=("dataset.toy.review",),
                       step=DescribeProject(project.id, "reviewed")),
            )
            made = Plan(actions, str(tmp_path / "spec.yaml"), "toy", "s", "o", "l")

            # plan: shown and costed from what the type declares
            assert made.cost == Cost(refines=1, requests=3)
            text = render_text(made)
            assert "dataset.toy.describe" in text and "dataset.toy.review" in text

            # the plan file: written and read back to the same typed steps
            document = json.loads(json.dumps(plan_to_dict(made)))
            assert document["actions"][0]["step"] == {"type": "test_describe_project", "project_id": project.id,
                                                      "description": "a toy project", "review": False}
            schema = with_steps(json.loads(PLAN_SCHEMA.read_text(encoding="utf-8")),
                                (*package_step_types(), DescribeProject))
            validator = jsonschema.Draft202012Validator(schema)
            errors = sorted(validator.iter_errors(document), key=str)
            assert not errors, errors[0]
            shipped = jsonschema.Draft202012Validator(json.loads(PLAN_SCHEMA.read_text(encoding="utf-8")))
            assert not shipped.is_valid(document)  # the package's schema does not know the toy type
            toy = next(s for s in schema["$defs"]["step"]["oneOf"] if s["title"] == "DescribeProject")
            assert toy["required"] == ["type", "project_id", "description"]
            assert toy["description"] == "Set the project's description; `review` leaves it waiting on a review (still running)."
            document["actions"][0]["step"]["review"] = "yes"  # a wrong type in the toy step's field
            assert not validator.is_valid(document)
            document["actions"][0]["step"]["review"] = False
            saved = plan_from_dict(document)
            assert [a.step for a in saved.actions] == [a.step for a in actions]

            # apply: dispatched like any step; its still-running outcome is the common one
            run = _run(client, tmp_path)
            run.on_progress = lambda e: events.append((e.kind, e.address))
            result = await execute(saved, run)
            statuses = {s.address: (s.status, s.waits_on) for s in result.steps}
            assert statuses == {"dataset.toy.describe": ("done", ""), "dataset.toy.review": ("running", "review"),
                                "dataset.toy.after": ("deferred", "")}
            assert result.ok and "Review in progress: the next apply picks it up." in result.summary()
            [seen] = [p for p in await client.list_projects() if p.id == project.id]
            assert seen.description == "under review"  # the third step did not run

    try:
        asyncio.run(scenario())
    finally:
        app.state.sandbox.close()
    assert ("begin", "dataset.toy.describe") in events and ("running", "dataset.toy.review") in events
    assert unhandled() == []
