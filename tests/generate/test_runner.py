"""run_generation's scheduling rules, on cases that fail before any request is sent."""

from __future__ import annotations

import asyncio

import pytest

from bria_pipeline.generate.errors import GenerationError
from bria_pipeline.generate.manifest import Manifest
from bria_pipeline.generate.planning import plan_generation
from bria_pipeline.generate.runner import run_generation
from bria_pipeline.model import StructuredPromptSpec
from bria_pipeline.plan.actions import Action


class NoNetwork:
    """A client that must not be called: every attribute access fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the runner called client.{name}")


def test_actions_of_other_layers_are_left_alone(build):
    manifest = Manifest(build.out)
    foreign = [Action("model.lucy-lora", "create", "new model", payload={"job": "image"}, billed=True),
               Action("dataset.lucy", "update", "caption")]
    report = asyncio.run(run_generation(foreign, NoNetwork(), manifest, build.out, lock_pins={}))
    assert report.ok and report.generated == [] and report.billed_requests == 0


def test_dependents_of_a_failed_action_are_skipped_and_say_why(build):
    sp = StructuredPromptSpec("Lucy reading")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1, 2), structured=sp, prompt=False))
    manifest = Manifest(build.out)
    actions = plan_generation(gen, build.models(trained=False), manifest, {}, prune=False)
    # The model's training is not part of this run and no id is given: the structured prompt fails.
    progress = []
    report = asyncio.run(run_generation(actions, NoNetwork(), manifest, build.out, lock_pins={},
                                        on_progress=lambda d, t: progress.append((d, t))))
    assert [a for a, _ in report.failed] == ["structured_prompt.library"]
    assert "not trained yet" in report.failed[0][1]
    assert report.skipped == [("generation.library[seed1]", "structured_prompt.library did not complete"),
                              ("generation.library[seed2]", "structured_prompt.library did not complete")]
    assert progress[-1] == (3, 3) and not report.ok
    assert len(Manifest.load(build.out)) == 0  # nothing was recorded as sent


def test_concurrency_below_one_is_refused(build):
    with pytest.raises(GenerationError, match="concurrency must be at least 1"):
        asyncio.run(run_generation([], NoNetwork(), Manifest(build.out), build.out, lock_pins={}, concurrency=0))
