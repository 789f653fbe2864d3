"""plan_generation with plain data: desired outputs against a manifest, no I/O."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from bria_pipeline.generate.errors import GenerationError
from bria_pipeline.state.file_facts import FileState
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.generate.outputs import ModelRef, expand_outputs
from bria_pipeline.plan.generation_steps import changed_actions, plan_generation
from bria_pipeline.model import StructuredPromptSpec, VideoRequest
from bria_pipeline.plan.steps import Superseded


def by_address(actions):
    return {a.address: a for a in actions}


def test_new_outputs_are_billed_creates_with_readable_addresses(build):
    gen = build.generation(build.prompt_set())
    actions = plan_generation(gen, build.models(), Manifest(build.out), {}, prune=False)
    changes = changed_actions(actions)
    assert [a.address for a in changes] == [
        "generation.places[beach-dawn-seed1]",
        "generation.places[beach-dawn-seed2]",
        "generation.places[beach-night-seed1]",
        "generation.places[beach-night-seed2]",
        "generation.places[city-dawn-seed1]",
        "generation.places[city-dawn-seed2]",
        "generation.places[city-night-seed1]",
        "generation.places[city-night-seed2]",
    ]
    assert all(a.kind == "create" and a.billed and not a.depends_on for a in changes)
    first = changes[0]
    assert first.step.output.prompt == "Lucy at the beach dawn"
    assert first.step.output.name == "places/beach-dawn-seed1"
    assert first.step.key == gen.images[0].key("lucy-lora-1a2b3c4d", "latest")
    assert actions[-1].address == "generation" and actions[-1].kind == "noop"
    assert actions[-1].step.up_to_date == 0


def test_done_outputs_with_their_files_plan_nothing_but_the_summary_count(build):
    gen = build.generation(build.prompt_set())
    models = build.models()
    manifest = build.done_manifest(gen, models)
    actions = plan_generation(gen, models, manifest, {}, prune=False)
    assert changed_actions(actions) == []
    assert len(actions) == 1
    assert actions[0].reason == "8 output(s) up to date"
    assert list(actions[0].step.desired) == [o.key for o in expand_outputs(gen, models).outputs]


def test_one_changed_prompt_plans_exactly_its_outputs(build):
    models = build.models()
    before = build.generation(build.prompt_set(), build.prompt_set("portraits", "Lucy, {mood}", {"mood": ["happy", "sad"]}))
    manifest = build.done_manifest(before, models)
    after = build.generation(build.prompt_set(), build.prompt_set("portraits", "Lucy, looking {mood}", {"mood": ["happy", "sad"]}))
    changes = changed_actions(plan_generation(after, models, manifest, {}, prune=False))
    assert [a.address for a in changes] == [
        "generation.portraits[happy-seed1]",
        "generation.portraits[happy-seed2]",
        "generation.portraits[sad-seed1]",
        "generation.portraits[sad-seed2]",
    ]
    first = changes[0]
    assert first.kind == "replace" and first.billed
    assert [(c.attribute, c.old, c.new) for c in first.changes] == [("prompt", "Lucy, happy", "Lucy, looking happy")]
    old = next(r for r in manifest if r.name == "portraits/happy-seed1")
    assert first.step.superseded == (
        Superseded(old.key, "portraits/happy-seed1.png", f"portraits/happy-seed1.{old.key[:8]}.png"),
    )
    assert "prompt changed" in first.reason and "kept as" in first.reason


def test_changed_parameter_is_shown_as_the_change(build):
    models = build.models()
    manifest = build.done_manifest(build.generation(build.prompt_set(seeds=(1,))), models)
    after = build.generation(build.prompt_set(seeds=(1,), params={"aspect_ratio": "16:9", "steps_num": 30}))
    changes = changed_actions(plan_generation(after, models, manifest, {}, prune=False))
    assert len(changes) == 4
    assert {(c.attribute, c.old, c.new) for a in changes for c in a.changes} == {("params.aspect_ratio", "1:1", "16:9")}


def test_pending_output_with_request_id_is_a_wait_not_a_create(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    models = build.models()
    key = expand_outputs(gen, models).images[0].key
    manifest = Manifest(build.out)
    manifest.record_pending(key, None, kind="image", name="places/beach-seed1", set_name="places", model="lucy-lora")
    manifest.record_pending(key, "req-42")
    (action, summary) = plan_generation(gen, models, manifest, {}, prune=False)
    assert action.kind == "wait" and not action.billed
    assert action.step.request_id == "req-42"
    assert "pay nothing again" in action.reason


def test_request_whose_answer_was_lost_is_planned_saying_it_may_pay_once_more(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    models = build.models()
    key = expand_outputs(gen, models).images[0].key
    manifest = Manifest(build.out)
    manifest.record_pending(key, None, kind="image", name="places/beach-seed1", set_name="places", model="lucy-lora")
    manifest.record_failed(key, "connection lost after the POST", answer_lost=True)
    (action, _) = plan_generation(gen, models, manifest, {}, prune=False)
    assert action.kind == "create" and action.billed
    assert action.step.may_pay_again is True
    assert "may pay once more" in action.reason


def test_output_whose_file_is_missing_or_changed_is_generated_again(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach", "city"]}))
    models = build.models()
    manifest = build.done_manifest(gen, models)
    beach, city = sorted(manifest, key=lambda r: r.name)
    del manifest.files[beach.file]
    manifest.files[city.file] = FileState("0" * 64, 3, 0)
    actions = by_address(changed_actions(plan_generation(gen, models, manifest, {}, prune=False)))
    assert "is missing" in actions["generation.places[beach-seed1]"].reason
    assert "was changed on disk" in actions["generation.places[city-seed1]"].reason


def test_removed_prompt_keeps_its_files_unless_prune(build):
    models = build.models()
    manifest = build.done_manifest(build.generation(build.prompt_set(), build.prompt_set("extra", "x {n}", {"n": [1]})), models)
    gen = build.generation(build.prompt_set())
    kept = plan_generation(gen, models, manifest, {}, prune=False)
    assert changed_actions(kept) == []
    assert kept[-1].reason == "8 output(s) up to date, 2 kept from earlier specs (--prune deletes them)"
    pruned = changed_actions(plan_generation(gen, models, manifest, {}, prune=True))
    assert [(a.address, a.kind) for a in pruned] == [
        ("generation.extra[1-seed1]", "delete"),
        ("generation.extra[1-seed2]", "delete"),
    ]
    assert not any(a.billed for a in pruned)
    assert pruned[0].step.file == "extra/1-seed1.png"
    assert "local file only" in pruned[0].reason


def test_outputs_of_an_untrained_model_depend_on_its_training(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    (action, _) = plan_generation(gen, build.models(trained=False), Manifest(build.out), {}, prune=False)
    assert action.depends_on == ("model.lucy-lora.training",)
    assert action.step.output.model_id is None


def test_outputs_made_by_another_training_of_the_same_model_name_are_generated_again(build):
    # the model was trained again under the same name (a new project after an ip_type change,
    # or the model deleted in the Console): outputs of the old training are not this model's
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    manifest = build.done_manifest(gen, build.models())
    retrained = plan_generation(gen, build.models(trained=False), manifest, {}, prune=False)
    [action] = changed_actions(retrained)
    assert (action.address, action.kind, action.depends_on) == (
        "generation.places[beach-seed1]", "replace", ("model.lucy-lora.training",)
    )
    sha = manifest.get(action.step.key).sha256
    assert action.reason.startswith(
        "made by model id 1001, and lucy-lora-1a2b3c4d is trained again by this plan: generated again "
        f"(the old file is kept as places/beach-seed1.replaced-{sha[:8]}.png); prompt 'Lucy at the beach"
    )
    assert action.reason.endswith("', seed 1, model lucy-lora")
    assert [(c.attribute, c.old, c.new) for c in action.changes] == [("model_id", "1001", None)]
    other_id = build.models(**{"lucy-lora": ModelRef("lucy-lora-1a2b3c4d", "2002", "latest")})
    [again] = changed_actions(plan_generation(gen, other_id, manifest, {}, prune=False))
    assert again.reason.startswith("made by model id 1001, and lucy-lora-1a2b3c4d is now model id 2002: generated again")
    # the same training: nothing to do
    assert changed_actions(plan_generation(gen, build.models(), manifest, {}, prune=False)) == []


def test_video_depends_on_its_source_image_only_while_that_is_planned(build):
    images = build.prompt_set(seeds=(1,), matrix={"place": ["beach"]})
    gen = build.generation(images, videos=(VideoRequest("walk", "lucy-lora", "places/beach-seed1.png", seed=7),))
    models = build.models()
    actions = by_address(plan_generation(gen, models, Manifest(build.out), {}, prune=False))
    assert actions["video.walk"].depends_on == ("generation.places[beach-seed1]",)
    assert actions["video.walk"].step.output.source == actions["generation.places[beach-seed1]"].step.key
    assert actions["video.walk"].step.output.name == "videos/walk"
    # Once the image exists, only the video is planned, with nothing to wait for.
    done_images = build.done_manifest(build.generation(images), models)
    (video, _) = plan_generation(gen, models, done_images, {}, prune=False)
    assert video.address == "video.walk" and video.depends_on == ()


def test_changed_source_image_makes_a_new_video(build):
    models = build.models()
    video = VideoRequest("walk", "lucy-lora", "places/beach-seed1")
    old = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}), videos=(video,))
    manifest = build.done_manifest(old, models)
    new = build.generation(build.prompt_set(template="Lucy on the {place}", seeds=(1,), matrix={"place": ["beach"]}), videos=(video,))
    actions = by_address(changed_actions(plan_generation(new, models, manifest, {}, prune=False)))
    assert set(actions) == {"generation.places[beach-seed1]", "video.walk"}
    assert actions["video.walk"].kind == "replace"
    assert actions["video.walk"].depends_on == ("generation.places[beach-seed1]",)


def test_unknown_video_source_is_a_clear_error(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}),
                           videos=(VideoRequest("walk", "lucy-lora", "places/beach-seed2"),))
    with pytest.raises(GenerationError) as err:
        plan_generation(gen, build.models(), Manifest(build.out), {}, prune=False)
    assert "no generated image is named 'places/beach-seed2'" in err.value.describe()
    assert "did you mean 'places/beach-seed1'" in err.value.describe()


def test_unknown_model_is_a_clear_error(build):
    gen = build.generation(build.prompt_set(model="lucy-lroa"))
    with pytest.raises(GenerationError) as err:
        plan_generation(gen, build.models(), Manifest(build.out), {}, prune=False)
    assert "did you mean 'lucy-lora'" in err.value.describe()


def test_structured_prompt_missing_from_the_lock_is_generated_before_its_images(build):
    sp = StructuredPromptSpec("Lucy reading in a library", refine="make it night")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1, 2), structured=sp, prompt=False))
    actions = changed_actions(plan_generation(gen, build.models(), Manifest(build.out), {}, prune=False))
    assert [a.address for a in actions] == [
        "structured_prompt.library",
        "generation.library[seed1]",
        "generation.library[seed2]",
    ]
    sp_action = actions[0]
    assert sp_action.kind == "create" and sp_action.billed
    assert sp_action.step.refine == "make it night"
    assert sp_action.step.inputs_hash == sp.inputs_hash
    assert "then refine it with 'make it night'" in sp_action.reason
    assert all(a.depends_on == ("structured_prompt.library",) for a in actions[1:])
    assert actions[1].step.output.structured_prompt_hash == sp.inputs_hash


def test_structured_prompt_pinned_in_the_lock_costs_no_action(build):
    sp = StructuredPromptSpec("Lucy reading in a library")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False))
    actions = changed_actions(plan_generation(gen, build.models(), Manifest(build.out), {sp.inputs_hash: '{"a": 1}'}, prune=False))
    assert [(a.address, a.depends_on) for a in actions] == [("generation.library[seed1]", ())]


def test_structured_prompt_already_in_the_manifest_is_pinned_without_a_request(build):
    from bria_pipeline.state.records import StructuredPromptRecord

    sp = StructuredPromptSpec("Lucy reading in a library")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False))
    manifest = Manifest(build.out, structured_prompts=[
        StructuredPromptRecord(sp.inputs_hash, "library", sp.prompt, "lucy-lora", status="done", text='{"b": 2}')
    ])
    sp_action = changed_actions(plan_generation(gen, build.models(), manifest, {}, prune=False))[0]
    assert (sp_action.kind, sp_action.billed, sp_action.step.text) == ("update", False, '{"b": 2}')


def test_a_lost_lock_pin_is_pinned_again_from_the_manifest_even_when_every_output_is_done(build):
    from bria_pipeline.state.records import StructuredPromptRecord

    sp = StructuredPromptSpec("Lucy reading in a library")
    gen = build.generation(build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False))
    models = build.models()
    manifest = build.done_manifest(gen, models)
    manifest.structured_prompts[sp.inputs_hash] = StructuredPromptRecord(
        sp.inputs_hash, "library", sp.prompt, "lucy-lora", status="done", text='{"b": 2}'
    )
    actions = changed_actions(plan_generation(gen, models, manifest, {}, prune=False))
    assert [(a.address, a.kind, a.billed, getattr(a.step, "text", None)) for a in actions] == [
        ("structured_prompt.library", "update", False, '{"b": 2}')
    ]
    # with the pin in the lock file, nothing at all
    assert changed_actions(plan_generation(gen, models, manifest, {sp.inputs_hash: '{"b": 2}'}, prune=False)) == []


def test_several_structured_prompts_in_a_set_get_one_address_each(build):
    reqs = build.prompt_set("rooms", matrix={"room": ["library", "kitchen"]}, seeds=(1,), prompt=False)
    from dataclasses import replace

    reqs = tuple(replace(r, structured_prompt=StructuredPromptSpec(f"Lucy in the {dict(r.variables)['room']}")) for r in reqs)
    actions = changed_actions(plan_generation(build.generation(reqs), build.models(), Manifest(build.out), {}, prune=False))
    assert [a.address for a in actions] == [
        "structured_prompt.rooms[kitchen]",
        "structured_prompt.rooms[library]",
        "generation.rooms[library-seed1]",
        "generation.rooms[kitchen-seed1]",
    ]


def test_training_sweep_members_get_a_folder_each_in_the_same_set(build):
    models = build.models(**{
        "lucy-lora[rank=32]": ModelRef("lucy-lora-aaaa1111", "2001", "latest"),
        "lucy-lora[rank=64]": ModelRef("lucy-lora-bbbb2222", None, "latest"),
    })
    gen = build.generation(
        build.prompt_set(matrix={"place": ["beach"]}, seeds=(1,), model="lucy-lora[rank=32]"),
        build.prompt_set(matrix={"place": ["beach"]}, seeds=(1,), model="lucy-lora[rank=64]"),
    )
    actions = changed_actions(plan_generation(gen, models, Manifest(build.out), {}, prune=False))
    assert [(a.address, a.depends_on) for a in actions] == [
        ("generation.places[rank-32/beach-seed1]", ()),
        ("generation.places[rank-64/beach-seed1]", ("model.lucy-lora[rank=64].training",)),
    ]


def test_two_plain_models_sharing_a_set_get_a_folder_each(build):
    models = build.models(**{"lucy-xl": ModelRef("lucy-xl-cccc3333", "3001", None)})
    gen = build.generation(
        build.prompt_set(matrix={"place": ["beach"]}, seeds=(1,)),
        build.prompt_set(matrix={"place": ["beach"]}, seeds=(1,), model="lucy-xl"),
    )
    actions = changed_actions(plan_generation(gen, models, Manifest(build.out), {}, prune=False))
    assert [a.step.output.name for a in actions] == ["places/lucy-lora/beach-seed1", "places/lucy-xl/beach-seed1"]


def test_planning_reads_no_file_and_is_deterministic(build, monkeypatch):
    sp = StructuredPromptSpec("Lucy reading")
    gen = build.generation(
        build.prompt_set(),
        build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False),
        videos=(VideoRequest("walk", "lucy-lora", "places/city-night-seed2"),),
    )
    models = build.models()
    manifest = build.done_manifest(build.generation(build.prompt_set(seeds=(1,))), models, write_files=False)

    def no_io(*args, **kwargs):
        raise AssertionError("planning touched the file system")

    with monkeypatch.context() as m:
        for target, name in [(builtins, "open"), (os, "stat"), (os, "listdir"), (os, "scandir"), (Path, "exists"),
                             (Path, "is_file"), (Path, "read_bytes"), (Path, "read_text")]:
            m.setattr(target, name, no_io)
        first = plan_generation(gen, models, manifest, {}, prune=True)
        second = plan_generation(gen, models, manifest, {}, prune=True)
    assert first == second
    assert [a.step for a in first] == [a.step for a in second]
    assert len(changed_actions(first)) == 1 + 4 + 1 + 1  # structured prompt, seed-2 images, library, video


def test_generation_steps_round_trip_through_the_plan_file_and_its_schema(build):
    import json

    import jsonschema

    from bria_pipeline.plan.actions import Action
    from bria_pipeline.plan.document import Plan, plan_from_dict, plan_to_dict
    from bria_pipeline.plan.steps import DeleteOutput, RestoreOutput

    sp = StructuredPromptSpec("Lucy reading", refine="at night")
    gen = build.generation(build.prompt_set(), build.prompt_set("library", matrix={}, seeds=(1,), structured=sp, prompt=False),
                           videos=(VideoRequest("walk", "lucy-lora", "places/beach-dawn-seed1", seed=3),))
    actions = plan_generation(gen, build.models(trained=False), Manifest(build.out), {}, prune=False)
    actions += [Action("generation.old[a]", "delete", "no longer in the spec, --prune", step=DeleteOutput("k1", "old/a.png", "spec.yaml")),
                Action("generation.old[b]", "update", "back in the spec",
                       step=RestoreOutput("k2", "old/b.k2.png", "old/b.png", None, (Superseded("k3", "old/b.png", "old/b.k3.png"),)))]
    plan = Plan(tuple(actions), "spec.yaml", "p", "", "", "")
    document = json.loads(json.dumps(plan_to_dict(plan)))
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text())
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    assert {a["step"]["type"] for a in document["actions"]} == {"image", "video", "structured_prompt", "delete", "restore", "summary"}
    assert all("payload" not in a for a in document["actions"])
    again = plan_from_dict(document)
    assert [a.step for a in again.actions] == [a.step for a in actions]
    document["actions"][0]["step"]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
