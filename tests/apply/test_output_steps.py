"""The executor's rules for generation steps, on cases that fail before any request is sent."""

from __future__ import annotations

import asyncio

from bria_pipeline.state.manifest import Manifest
from bria_pipeline.plan.generation_steps import plan_generation
from bria_pipeline.model import StructuredPromptSpec
from outputs_run import NoNetwork, run_outputs


def test_dependents_of_a_failed_action_are_skipped_and_say_why(build):
    sp = StructuredPromptSpec("Lucy reading")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1, 2), structured=sp, prompt=False))
    manifest = Manifest(build.out)
    actions = plan_generation(gen, build.models(trained=False), manifest, {}, prune=False)
    # The model's training is not part of this run and no id is given: the structured prompt fails.
    progress = []
    report = asyncio.run(run_outputs(actions, NoNetwork(), manifest, build.out, lock_pins={},
                                        on_progress=lambda d, t: progress.append((d, t))))
    assert [a for a, _ in report.failed] == ["structured_prompt.library"]
    assert "not trained yet" in report.failed[0][1]
    assert report.skipped == [("generation.library[seed1]", "structured_prompt.library did not complete"),
                              ("generation.library[seed2]", "structured_prompt.library did not complete")]
    assert progress[-1] == (3, 3) and not report.ok
    assert len(Manifest.load(build.out)) == 0  # nothing was recorded as sent

