"""Generation steps carried out by the executor with the real client against the real sandbox (in-process)."""

from __future__ import annotations

import asyncio
import json

import pytest
from PIL import Image

from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.reports.gallery import write_gallery
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.generate.outputs import ModelRef
from bria_pipeline.plan.generation_steps import changed_actions, plan_generation
from bria_pipeline.model import StructuredPromptSpec, VideoRequest
from outputs_run import run_outputs

pytestmark = pytest.mark.timeout(60)

FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02, "wait_timeout": 20.0}


def models_for(model_id: str | None) -> dict[str, ModelRef]:
    return {"lucy-lora": ModelRef("lucy-lora-1a2b3c4d", model_id, None)}


async def plan_and_run(build, gen, model_id, *, pins=None, prune=False, concurrency=4, client=None, world=None, **kw):
    manifest = Manifest.load(build.out)
    pins = {} if pins is None else pins
    actions = plan_generation(gen, models_for(model_id), manifest, dict(pins), prune=prune)
    own = client is None
    client = client or world.client()
    try:
        report = await run_outputs(actions, client, manifest, build.out, concurrency=concurrency,
                                      lock_pins=pins, **{**FAST, **kw})
    finally:
        if own:
            await client.aclose()
    return actions, report, manifest


def test_second_run_sends_no_request_at_all(build, fast_world):
    gen = build.generation(build.prompt_set(), videos=(VideoRequest("walk", "lucy-lora", "places/beach-dawn-seed1", seed=3),))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.reset_stats()
        actions, report, manifest = await plan_and_run(build, gen, model_id, world=fast_world)
        assert report.ok, report.failed
        assert len(report.generated) == 9 and report.billed_requests == 9
        first = await fast_world.stats()
        assert first["routes"]["POST /v2/image/generate/tailored"] == 8
        assert first["routes"]["POST /v2/video/generate/tailored/image-to-video"] == 1

        # the apply wrote the gallery, as every apply with generation steps does
        before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (build.out / "manifest.json", build.out / "index.html")}

        await fast_world.reset_stats()
        actions, report, again = await plan_and_run(build, gen, model_id, world=fast_world)
        assert changed_actions(actions) == []
        assert report.billed_requests == 0 and report.generated == []
        assert (await fast_world.stats())["total"] == 0
        # Nothing on disk changes either, not even a timestamp.
        after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (build.out / "manifest.json", build.out / "index.html")}
        assert after == before
        return manifest

    manifest = asyncio.run(scenario())
    # Every output is on disk, whole, with the hash and request recorded.
    reloaded = Manifest.load(build.out)
    assert len(reloaded) == 9
    for record in reloaded:
        assert record.status == "done" and record.request_id and record.created and record.completed
        assert sha256_file(build.out / record.file) == record.sha256
        assert record.model_id is not None and record.model_name == "lucy-lora-1a2b3c4d"
    image = reloaded.get(manifest.by_file()["places/beach-dawn-seed1.png"].key)
    assert image.prompt == "Lucy at the beach dawn" and image.seed == 1
    assert image.params == {"aspect_ratio": "1:1", "steps_num": 30}
    assert json.loads(image.structured_prompt)  # the service's structured prompt, kept
    with Image.open(build.out / "places/beach-dawn-seed1.png") as im:
        im.verify()
    video = next(r for r in reloaded if r.kind == "video")
    assert video.source == image.key and video.file.startswith("videos/walk.")
    assert not (build.out / "manifest.journal").exists()
    assert [p.name for p in build.out.rglob(".*part-*")] == []


def test_one_changed_prompt_regenerates_exactly_its_outputs(build, fast_world):
    before = build.generation(build.prompt_set(), build.prompt_set("portraits", "Lucy, {mood}", {"mood": ["happy", "sad"]}))
    after = build.generation(build.prompt_set(), build.prompt_set("portraits", "Lucy, {mood}", {"mood": ["happy", "angry"]}))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await plan_and_run(build, before, model_id, world=fast_world)
        old_sad = (build.out / "portraits/sad-seed1.png").read_bytes()
        await fast_world.reset_stats()
        actions, report, _ = await plan_and_run(build, after, model_id, world=fast_world)
        assert [a.address for a in changed_actions(actions)] == ["generation.portraits[angry-seed1]", "generation.portraits[angry-seed2]"]
        assert report.ok and len(report.generated) == 2
        assert await fast_world.generation_posts() == 2
        return old_sad

    old_sad = asyncio.run(scenario())
    # The removed prompt's files are kept and shown apart in the gallery.
    assert (build.out / "portraits/sad-seed1.png").read_bytes() == old_sad
    manifest = Manifest.load(build.out)
    sad = manifest.by_file()["portraits/sad-seed1.png"]
    assert sad.retired
    assert "no longer in the spec" in write_gallery(build.out, manifest).read_text().lower()


def test_changed_prompt_replaces_the_file_and_keeps_the_old_one_aside(build, fast_world):
    before = build.generation(build.prompt_set("portraits", "Lucy, {mood}", {"mood": ["happy"]}, seeds=(1,)))
    after = build.generation(build.prompt_set("portraits", "Lucy, very {mood}", {"mood": ["happy"]}, seeds=(1,)))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        _, _, first = await plan_and_run(build, before, model_id, world=fast_world)
        old = next(iter(first))
        actions, report, _ = await plan_and_run(build, after, model_id, world=fast_world)
        assert [a.kind for a in changed_actions(actions)] == ["replace"] and report.ok
        return old

    old = asyncio.run(scenario())
    manifest = Manifest.load(build.out)
    current = manifest.by_file()["portraits/happy-seed1.png"]
    assert current.prompt == "Lucy, very happy" and not current.retired
    aside = manifest.get(old.key)
    assert aside.file == f"portraits/happy-seed1.{old.key[:8]}.png" and aside.retired
    assert sha256_file(build.out / aside.file) == old.sha256


def test_a_reverted_prompt_takes_its_kept_file_back_without_a_request(build, fast_world):
    before = build.generation(build.prompt_set("portraits", "Lucy, {mood}", {"mood": ["happy"]}, seeds=(1,)))
    after = build.generation(build.prompt_set("portraits", "Lucy, very {mood}", {"mood": ["happy"]}, seeds=(1,)))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        _, _, first = await plan_and_run(build, before, model_id, world=fast_world)
        original = next(iter(first))
        _, _, second = await plan_and_run(build, after, model_id, world=fast_world)
        changed = next(r for r in second if r.key != original.key)
        client = fast_world.client()
        try:
            actions, report, _ = await plan_and_run(build, before, model_id, client=client)
            assert client.stats.total == 0  # the file is already here: nothing is asked for
        finally:
            await client.aclose()
        return original, changed, actions, report

    original, changed, actions, report = asyncio.run(scenario())
    [restore] = changed_actions(actions)
    assert (restore.address, restore.kind, restore.billed) == ("generation.portraits[happy-seed1]", "update", False)
    assert restore.reason == (
        f"back in the spec: its file portraits/happy-seed1.{original.key[:8]}.png takes the name "
        f"portraits/happy-seed1.png again (portraits/happy-seed1.png is kept as portraits/happy-seed1.{changed.key[:8]}.png); no request"
    )
    assert report.ok and report.restored == ["generation.portraits[happy-seed1]"] and report.billed_requests == 0
    manifest = Manifest.load(build.out)
    current = manifest.by_file()["portraits/happy-seed1.png"]
    assert current.key == original.key and not current.retired
    assert sha256_file(build.out / "portraits/happy-seed1.png") == original.sha256
    aside = manifest.get(changed.key)
    assert aside.file == f"portraits/happy-seed1.{changed.key[:8]}.png" and aside.retired
    assert sha256_file(build.out / aside.file) == changed.sha256


async def crash_while_polling(build, gen, model_id, world) -> str:
    """Run the one output of `gen` until its request id is recorded and a few polls went by (the
    job stays IN_PROGRESS: sandbox time stands still), then die: the loop is cancelled mid-wait.
    Returns the output's key."""
    manifest = Manifest.load(build.out)
    actions = plan_generation(gen, models_for(model_id), manifest, {}, prune=False)
    (key,) = [a.step.key for a in changed_actions(actions)]
    client = world.client()
    run = asyncio.create_task(run_outputs(actions, client, manifest, build.out, concurrency=1,
                                             lock_pins={}, **FAST))
    for _ in range(2000):
        record = manifest.get(key)
        if record is not None and record.request_id:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # a few polls
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await client.aclose()
    return key


def test_crash_while_polling_resumes_the_same_request_and_pays_once(build, still_world):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        model_id = await still_world.new_trained_model()
        await still_world.reset_stats()
        key = await crash_while_polling(build, gen, model_id, still_world)
        recorded = Manifest.load(build.out).get(key)  # on disk, not just in memory
        assert recorded.status == "pending" and recorded.request_id
        assert not any(p.suffix == ".png" for p in build.out.rglob("*.png"))

        await still_world.advance(60)
        actions, report, _ = await plan_and_run(build, gen, model_id, world=still_world)
        (resume,) = changed_actions(actions)
        assert resume.kind == "wait" and resume.step.request_id == recorded.request_id
        assert report.ok and report.resumed == [resume.address] and report.billed_requests == 0
        stats = await still_world.stats()
        assert stats["routes"]["POST /v2/image/generate/tailored"] == 1
        assert stats["routes"]["GET /v2/status/{request_id}"] >= 2
        return key, recorded.request_id

    key, request_id = asyncio.run(scenario())
    done = Manifest.load(build.out).get(key)
    assert done.status == "done" and done.request_id == request_id and done.attempts == 1
    assert sha256_file(build.out / done.file) == done.sha256


def test_lost_answer_is_recorded_and_the_rerun_says_it_may_have_paid_twice(build, fast_world):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.admin("POST", "/_sandbox/faults", {"lose_response_rate": 1.0,
                                                           "lose_response_routes": ["POST /v2/image/generate/tailored"]})
        _, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        assert not report.ok and len(report.answer_lost) == 1
        assert "may pay once more" in " ".join(report.notes)
        assert await fast_world.generation_posts() == 1  # the client did not retry the billed POST
        record = next(iter(Manifest.load(build.out)))
        assert record.status == "failed" and record.answer_lost and record.request_id is None

        await fast_world.admin("POST", "/_sandbox/faults", {})
        actions, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        (again,) = changed_actions(actions)
        assert again.kind == "create" and "may pay once more" in again.reason
        assert report.ok and report.paid_again == [again.address]
        assert await fast_world.generation_posts() == 2

    asyncio.run(scenario())
    record = next(iter(Manifest.load(build.out)))
    assert record.status == "done" and record.paid_again and record.attempts == 2


def test_failed_job_is_recorded_and_generated_again_next_run(build, fast_world):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.admin("POST", "/_sandbox/faults", {"generation_error_rate": 1.0})
        _, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        assert len(report.failed) == 1 and "ERROR" in report.failed[0][1]
        assert next(iter(Manifest.load(build.out))).status == "failed"
        await fast_world.admin("POST", "/_sandbox/faults", {})
        actions, report, _ = await plan_and_run(build, gen, model_id, world=fast_world)
        assert "the last attempt failed" in changed_actions(actions)[0].reason
        assert report.ok and not report.paid_again

    asyncio.run(scenario())


def test_structured_prompt_is_generated_refined_pinned_and_used(build, fast_world):
    sp = StructuredPromptSpec("Lucy reading in a library", refine="make it night time")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1, 2), structured=sp, prompt=False))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await fast_world.reset_stats()
        pins: dict[str, str] = {}
        _, report, _ = await plan_and_run(build, gen, model_id, world=fast_world, pins=pins)
        assert report.ok, report.failed
        routes = (await fast_world.stats())["routes"]
        assert routes["POST /v2/structured_prompt/generate/tailored"] == 2  # generate, then refine
        assert routes["POST /v2/image/generate/tailored"] == 2
        # With the pin in the lock, a new seed costs one image and no structured prompt request.
        await fast_world.reset_stats()
        more = build.generation(build.prompt_set("library", matrix={}, seeds=(1, 2, 3), structured=sp, prompt=False))
        _, report, _ = await plan_and_run(build, more, model_id, world=fast_world, pins=pins)
        routes = (await fast_world.stats())["routes"]
        assert routes.get("POST /v2/structured_prompt/generate/tailored", 0) == 0
        assert routes["POST /v2/image/generate/tailored"] == 1
        return pins

    pins = asyncio.run(scenario())
    assert list(pins) == [sp.inputs_hash]
    manifest = Manifest.load(build.out)
    assert json.loads(pins[sp.inputs_hash])
    assert {r.structured_prompt for r in manifest} == {pins[sp.inputs_hash]}
    sp_record = manifest.structured_prompts[sp.inputs_hash]
    assert sp_record.status == "done" and sp_record.draft and sp_record.draft != sp_record.text


def test_generations_run_concurrently_within_the_bound_and_report_progress(build, fast_world):
    gen = build.generation(build.prompt_set(matrix={"place": ["a", "b", "c"]}, seeds=(1, 2)))
    progress: list[tuple[int, int]] = []

    async def scenario():
        model_id = await fast_world.new_trained_model()
        client = fast_world.client()
        in_flight = peak = 0
        real_wait = client.wait_for_job

        async def counting_wait(job, **kw):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0.02)  # hold the slot long enough for others to start
                return await real_wait(job, **kw)
            finally:
                in_flight -= 1

        client.wait_for_job = counting_wait
        manifest = Manifest.load(build.out)
        actions = plan_generation(gen, models_for(model_id), manifest, {}, prune=False)
        report = await run_outputs(actions, client, manifest, build.out, concurrency=2, lock_pins={},
                                      on_progress=lambda done, total: progress.append((done, total)), **FAST)
        await client.aclose()
        assert report.ok and len(report.generated) == 6
        return peak

    assert asyncio.run(scenario()) == 2
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)
    assert [d for d, _ in progress] == list(range(7))


def test_outputs_of_an_untrained_model_run_once_its_id_is_given(build, fast_world):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        async with fast_world.client() as client:
            manifest = Manifest.load(build.out)
            actions = plan_generation(gen, models_for(None), manifest, {}, prune=False)
            assert changed_actions(actions)[0].depends_on == ("model.lucy-lora.training",)
            # The executor trains the model, then hands over the fresh id.
            model_id = await fast_world.trained_model(client)
            report = await run_outputs(actions, client, manifest, build.out, lock_pins={},
                                          models=models_for(model_id), **FAST)
            assert report.ok and len(report.generated) == 1

    asyncio.run(scenario())


def test_prune_deletes_only_local_files_of_removed_outputs(build, fast_world):
    before = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach", "city"]}))
    after = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))

    async def scenario():
        model_id = await fast_world.new_trained_model()
        await plan_and_run(build, before, model_id, world=fast_world)
        await fast_world.reset_stats()
        actions, report, _ = await plan_and_run(build, after, model_id, world=fast_world, prune=True)
        assert [(a.kind, a.address) for a in changed_actions(actions)] == [("delete", "generation.places[city-seed1]")]
        assert report.deleted == ["generation.places[city-seed1]"]
        assert (await fast_world.stats())["total"] == 0

    asyncio.run(scenario())
    assert not (build.out / "places/city-seed1.png").exists()
    assert (build.out / "places/beach-seed1.png").exists()
    assert [r.name for r in Manifest.load(build.out)] == ["places/beach-seed1"]


def test_crash_while_refining_a_structured_prompt_resumes_the_refinement(build, still_world):
    sp = StructuredPromptSpec("Lucy reading in a library", refine="make it night time")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False))

    async def until(predicate):
        for _ in range(2000):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("condition never met")

    async def scenario():
        model_id = await still_world.new_trained_model()
        await still_world.reset_stats()
        manifest = Manifest.load(build.out)
        actions = plan_generation(gen, models_for(model_id), manifest, {}, prune=False)
        client = still_world.client()
        run = asyncio.create_task(run_outputs(actions, client, manifest, build.out, lock_pins={}, **FAST))
        record = lambda: manifest.structured_prompts.get(sp.inputs_hash)  # noqa: E731
        await until(lambda: record() is not None and record().request_id is not None)
        await still_world.advance(60)  # the first call completes; the refinement is sent
        await until(lambda: record().stage == "refine" and record().request_id is not None)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await client.aclose()
        refine_id = Manifest.load(build.out).structured_prompts[sp.inputs_hash].request_id

        await still_world.advance(60)
        pins: dict[str, str] = {}
        actions, report, _ = await plan_and_run(build, gen, model_id, world=still_world, pins=pins)
        sp_action = changed_actions(actions)[0]
        assert (sp_action.kind, sp_action.step.request_id, sp_action.step.stage) == ("wait", refine_id, "refine")
        routes = (await still_world.stats())["routes"]
        assert routes["POST /v2/structured_prompt/generate/tailored"] == 2  # generate once, refine once
        return pins, report

    # The image waits on the (manual) clock too: advance it while the second run polls.
    pins, report = asyncio.run(_with_ticking(still_world, scenario()))
    assert report.ok, report.failed
    assert Manifest.load(build.out).structured_prompts[sp.inputs_hash].text == pins[sp.inputs_hash]


async def _with_ticking(world, coro):
    """Run `coro` while the sandbox's manual clock moves on a little every few milliseconds."""

    async def tick():
        while True:
            await asyncio.sleep(0.01)
            await world.advance(0.01)

    ticker = asyncio.create_task(tick())
    try:
        return await coro
    finally:
        ticker.cancel()


def test_a_generation_that_outlives_the_wait_is_still_running_like_a_training_not_failed(build, still_world):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"], "time": ["dawn"]}),
                           videos=(VideoRequest("walk", "lucy-lora", "places/beach-dawn-seed1", seed=3),))

    async def scenario():
        model_id = await still_world.new_trained_model()
        results = []
        actions, report, manifest = await plan_and_run(build, gen, model_id, world=still_world, wait_timeout=0.0,
                                                       results=results)
        [result] = results
        image = next(a.address for a in changed_actions(actions) if a.step.kind == "image")
        video = next(a.address for a in changed_actions(actions) if a.step.kind == "video")
        statuses = {s.address: (s.status, s.waits_on) for s in result.steps}
        assert statuses[image] == ("running", "generation request")
        assert statuses[video] == ("deferred", "")  # waits for its source image, not skipped
        assert report.still_running == [image] and report.failed == [] and report.skipped == []
        assert result.ok and report.ok
        assert "Generation request in progress: the next apply picks it up." in result.summary()
        [record] = [r for r in manifest if r.kind == "image"]
        assert record.status == "pending" and record.request_id  # the next apply polls it

        await still_world.advance(60)
        actions, report, _ = await plan_and_run(build, gen, model_id, world=still_world, wait_timeout=0.0)
        polled = next(a for a in changed_actions(actions) if a.address == image)
        assert polled.step.TAG == "poll_image" and polled.step.request_id == record.request_id
        # the image is collected without paying again; the video it feeds is sent, and outlives the wait
        assert report.ok and report.resumed == [image] and report.still_running == [video]
        assert report.billed_requests == 1

    asyncio.run(scenario())
