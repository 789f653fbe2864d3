"""Never pay twice, and say exactly what may have been paid: the runner with the real client
against the real sandbox (in-process), its status service and POSTs failing in each way.

The sandbox counts the billed work it accepted (`billed` in /_sandbox/stats), whether or not its
answer reached the client: that is what the organisation pays for.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from outputs_run import generation_run
from test_output_steps_sandbox import crash_while_polling, plan_and_run

from bria_pipeline.api import RetryPolicy
from bria_pipeline.apply.output_steps import _download
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.plan.generation_steps import changed_actions
from bria_pipeline.model import StructuredPromptSpec

pytestmark = pytest.mark.timeout(60)

STATUS = "GET /v2/status/{request_id}"
IMAGE = "POST /v2/image/generate/tailored"
PROMPT = "POST /v2/structured_prompt/generate/tailored"
QUICK = RetryPolicy(max_attempts=3, max_elapsed=5.0, base_delay=0.001, max_delay=0.002)


async def billed(world) -> int:
    return (await world.stats())["billed"]["total"]


async def run_quick(build, gen, model_id, world, **kw):
    """plan_and_run with a client that gives up on a failing request within milliseconds."""
    client = world.client(retry=QUICK)
    try:
        return await plan_and_run(build, gen, model_id, client=client, **kw)
    finally:
        await client.aclose()


@pytest.mark.parametrize("status", [503, 401, 403])
def test_a_failing_status_service_interrupts_the_wait_and_the_next_apply_polls_the_same_request(build, fast_world, status):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.reset_stats()
        await fast_world.admin("POST", "/_sandbox/faults", {"error_rate": 1.0, "error_routes": [STATUS],
                                                           "error_status": status})
        _, report, _ = await run_quick(build, gen, model_id, fast_world)
        assert report.interrupted == [report.failed[0][0]] and not report.answer_lost
        assert report.billed_requests == 1 and await billed(fast_world) == 1
        assert "pays nothing again" in " ".join(report.notes)
        pending = next(iter(Manifest.load(build.out)))
        assert pending.status == "pending" and pending.request_id and pending.billed == 1

        await fast_world.admin("POST", "/_sandbox/faults", {})
        actions, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        (resume,) = changed_actions(actions)
        assert resume.kind == "wait" and resume.step.request_id == pending.request_id
        assert report.ok and report.resumed == [resume.address] and report.billed_requests == 0
        routes = (await fast_world.stats())["routes"]
        assert routes[IMAGE] == 1 and await billed(fast_world) == 1  # paid once, in all
        return pending.request_id

    request_id = asyncio.run(scenario())
    done = next(iter(Manifest.load(build.out)))
    assert done.status == "done" and done.request_id == request_id
    assert (done.attempts, done.billed, done.unknown_effect, done.paid_again) == (1, 1, 0, False)


def test_a_structured_prompt_whose_status_poll_fails_is_resumed_not_paid_again(build, fast_world):
    sp = StructuredPromptSpec("Lucy reading in a library")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.reset_stats()
        await fast_world.admin("POST", "/_sandbox/faults", {"error_rate": 1.0, "error_routes": [STATUS]})
        pins: dict[str, str] = {}
        _, report, _ = await run_quick(build, gen, model_id, fast_world, pins=pins)
        assert report.interrupted == [f"structured_prompt.{sp_set(gen)}"]
        record = Manifest.load(build.out).structured_prompts[sp.inputs_hash]
        assert record.status == "pending" and record.request_id
        await fast_world.admin("POST", "/_sandbox/faults", {})
        actions, report, _ = await plan_and_run(build, gen, model_id, world=fast_world, pins=pins)
        assert [a.kind for a in changed_actions(actions)] == ["wait", "create"]
        assert report.ok and pins
        routes = (await fast_world.stats())["routes"]
        assert routes[PROMPT] == 1 and routes[IMAGE] == 1 and await billed(fast_world) == 2

    asyncio.run(scenario())
    record = Manifest.load(build.out).structured_prompts[sp.inputs_hash]
    assert record.status == "done" and (record.attempts, record.billed, record.paid_again) == (1, 1, False)


def sp_set(gen) -> str:
    return gen.images[0].set_name


def test_the_money_record_flags_exactly_the_requests_whose_effect_is_unknown(build, fast_world):
    """A 500 the API answered itself did nothing: not flagged. An answer lost after the sandbox
    committed (502 from a gateway): flagged, and the re-run that pays again says so."""
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach", "city"]}))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.reset_stats()
        await fast_world.admin("POST", "/_sandbox/faults", {"error_rate": 1.0, "error_routes": [IMAGE]})
        _, report, _ = await run_quick(build, gen, model_id, fast_world)
        assert len(report.failed) == 2 and not report.answer_lost and report.unknown_effect == 0
        assert report.billed_requests == 0 and await billed(fast_world) == 0
        assert (await fast_world.stats())["routes"][IMAGE] == 2 * QUICK.max_attempts  # retried: nothing was done
        assert Manifest.load(build.out).money() == {"sent": 2, "billed": 0, "unknown_effect": 0, "paid_again": 0}

        await fast_world.admin("POST", "/_sandbox/faults", {"lose_response_rate": 1.0, "lose_mode": "502",
                                                           "lose_response_routes": [IMAGE]})
        _, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        assert report.unknown_effect == 2 and "of unknown effect" in report.summary()
        assert await billed(fast_world) == 2  # the sandbox did make them

        await fast_world.admin("POST", "/_sandbox/faults", {})
        _, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        assert report.ok and len(report.paid_again) == 2 and report.unknown_effect == 0
        assert await billed(fast_world) == 4

    asyncio.run(scenario())
    manifest = Manifest.load(build.out)
    assert manifest.money() == {"sent": 6, "billed": 2, "unknown_effect": 2, "paid_again": 2}
    assert all(r.paid_again and r.unknown_effect == 1 and r.billed == 1 for r in manifest)
    assert json.loads(manifest.path.read_text())["requests"] == manifest.money()


def test_a_structured_prompt_paid_again_after_a_lost_answer_is_flagged(build, fast_world):
    sp = StructuredPromptSpec("Lucy at the piano")
    gen = build.generation(build.prompt_set("piano", matrix={}, seeds=(1,), structured=sp, prompt=False))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.reset_stats()
        await fast_world.admin("POST", "/_sandbox/faults", {"lose_response_rate": 1.0, "lose_response_routes": [PROMPT]})
        pins: dict[str, str] = {}
        _, report, _ = await plan_and_run(build, gen, model_id, world=fast_world, pins=pins)
        assert report.answer_lost == [f"structured_prompt.{sp_set(gen)}"] and report.unknown_effect == 1
        await fast_world.admin("POST", "/_sandbox/faults", {})
        actions, report, _ = await plan_and_run(build, gen, model_id, world=fast_world, pins=pins)
        assert "may pay once more" in changed_actions(actions)[0].reason
        assert report.ok and report.paid_again == [f"structured_prompt.{sp_set(gen)}"]
        assert await billed(fast_world) == 3  # the lost one, its repeat, the image

    asyncio.run(scenario())
    record = Manifest.load(build.out).structured_prompts[sp.inputs_hash]
    assert (record.status, record.paid_again, record.unknown_effect, record.billed, record.attempts) == ("done", True, 1, 1, 2)


def test_a_job_gone_after_three_days_is_generated_again_once_and_the_manifest_says_so(build, still_world):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        model_id = await still_world.new_trained_model()
        await still_world.reset_stats()
        key = await crash_while_polling(build, gen, model_id, still_world)
        first = Manifest.load(build.out).get(key).request_id

        await still_world.advance(3 * 24 * 3600 + 1)  # resumed days later: the job is gone
        second = asyncio.create_task(plan_and_run(build, gen, model_id, world=still_world))
        while not second.done():  # sandbox time moves only when told: let the new job finish
            await still_world.advance(1)
            await asyncio.sleep(0.01)
        actions, report, _ = second.result()
        assert [a.kind for a in changed_actions(actions)] == ["wait"]
        assert report.ok and report.generated and report.paid_again and report.billed_requests == 1
        assert await billed(still_world) == 2
        return key, first

    key, first = asyncio.run(scenario())
    record = Manifest.load(build.out).get(key)
    assert record.status == "done" and record.paid_again and record.billed == 2
    assert [(p["request_id"], p["ended"]) for p in record.previous] == [(first, "gone")]
    assert sha256_file(build.out / record.file) == record.sha256


def test_a_dead_result_url_is_replaced_by_a_fresh_one_from_the_status_service(build, fast_world):
    async def scenario():
        model_id = await fast_world.new_trained_model()
        async with fast_world.client() as client:
            job = await client.generate_image(model_id, prompt="Lucy")
            result = await client.wait_for_job(job, interval=0.01)
            fast_world.app.state.sandbox.kill_urls(result.image_url)  # e.g. a run resumed days later
            await fast_world.reset_stats()
            run = generation_run(client, Manifest(build.out), build.out, lock_pins={})
            data, ext = await _download(run, job, result, "image")
        assert ext == "png" and data.startswith(b"\x89PNG")
        stats = await fast_world.stats()
        assert stats["routes"] == {STATUS: 1} and stats["billed"]["total"] == 0

    asyncio.run(scenario())
