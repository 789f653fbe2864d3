"""A valid spec becomes exactly the Desired the planner expects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bria_pipeline.generate.outputs import ModelRef, expand_outputs
from bria_pipeline.model import Desired, GenerationRequest
from bria_pipeline.spec import SpecErrors, SpecProblem, load_spec, validate_spec
from bria_pipeline.spec.generation_builder import derived_seeds
from spec_helpers import BASE_DATASETS, Project, png_bytes
from example_spec import copy_example



@pytest.fixture
def lucy(tmp_path: Path) -> Path:
    """A private copy of the Lucy example (tests must not write caches into the repository)."""
    target = tmp_path / "lucy"
    copy_example(target)
    return target / "spec.yaml"


def test_lucy_example_loads_into_the_documented_desired_state(lucy: Path) -> None:
    desired = load_spec(lucy)
    assert isinstance(desired, Desired)
    assert desired.spec_dir == lucy.parent.resolve()
    assert desired.project.name == "lucy-example" and desired.project.ip_name == "Lucy"
    dataset = desired.datasets["lucy"]
    assert dataset.upload_type == "basic" and dataset.upload_type_auto
    assert [i.key for i in dataset.images] == [f"images/pose-{n:02d}.png" for n in range(1, 11)]
    for image in dataset.images:
        assert image.sha256 == hashlib.sha256(image.path.read_bytes()).hexdigest()
        assert (image.width, image.height) == (1024, 1024)
    assert len(dataset.visual_schema.samples) == 5
    assert dataset.visual_schema.refine == ("The character's name is Lucy", "Remove references to the plain background colours")
    captioned = {i.key: i for i in dataset.images if i.caption or i.caption_refine}
    assert json.loads(captioned["images/pose-02.png"].caption)["subject"].startswith("Lucy, a girl")
    assert captioned["images/pose-04.png"].caption_refine == ("Fix the description of the hair colour to purple",)
    model = desired.models["lucy-lora"]
    assert model.training_mode == "expert" and model.training.total_training_steps == 200
    assert model.checkpoint == "latest"
    places = [r for r in desired.generation.images if r.set_name == "places"]
    assert [r.file_stem for r in places] == [
        "places/beach-dawn-seed1", "places/beach-dawn-seed2", "places/beach-night-seed1", "places/beach-night-seed2",
        "places/city-dawn-seed1", "places/city-dawn-seed2", "places/city-night-seed1", "places/city-night-seed2",
    ]
    assert places[0].prompt == "Lucy at the beach at dawn"
    assert places[0].variables == (("place", "beach"), ("time", "dawn"))
    params = dict(places[0].params)
    assert list(dict(places[0].params)) == sorted(params)
    assert params == {"aspect_ratio": "1:1", "guidance_scale": 5, "steps_num": 30, "tailored_model_influence": 1.0,
                      "prompt_content_moderation": True, "visual_output_content_moderation": True}
    portrait = [r for r in desired.generation.images if r.set_name == "portrait"]
    assert len(portrait) == 1 and portrait[0].prompt is None
    assert portrait[0].structured_prompt.prompt == "A close-up portrait of Lucy smiling"
    assert dict(portrait[0].params)["aspect_ratio"] == "4:5"
    assert [(v.name, v.source, v.model) for v in desired.generation.videos] == [("beach-wave", "places/beach-dawn-seed1", "lucy-lora")]
    assert desired.generation.output_dir == lucy.parent.resolve() / "outputs"


def test_fingerprints_are_stable_across_runs_and_change_with_an_image(lucy: Path, tmp_path: Path) -> None:
    first = load_spec(lucy, cache_dir=tmp_path / "c1")
    again = load_spec(lucy, cache_dir=tmp_path / "c2")  # cold cache: hashes recomputed
    assert first.datasets["lucy"].fingerprint == again.datasets["lucy"].fingerprint
    assert first.source_hash == again.source_hash
    keys = [r.key("m-1") for r in first.generation.images]
    assert keys == [r.key("m-1") for r in again.generation.images]

    (lucy.parent / "images" / "pose-06.png").write_bytes(png_bytes(shade=200))
    changed = load_spec(lucy, cache_dir=tmp_path / "c1")
    assert changed.datasets["lucy"].fingerprint != first.datasets["lucy"].fingerprint
    assert changed.source_hash != first.source_hash
    changed_image = [i for i in changed.datasets["lucy"].images if i.key == "images/pose-06.png"][0]
    assert changed_image.sha256 == hashlib.sha256(png_bytes(shade=200)).hexdigest()


def test_matrix_and_count_expand_in_spec_order_with_reproducible_seeds(project: Project) -> None:
    spec = project.spec(generate="""\
        generate:
          model: m
          images:
            - name: grid
              prompt: "{{ animal }} in {{ colour }} ({{ size }})"
              matrix:
                colour: [red, blue]
                animal: [cat, dog, owl]
                size: [small]
              count: 2
        """)
    first = load_spec(spec).generation.images
    second = load_spec(spec).generation.images
    assert first == second
    seeds = derived_seeds("grid", 2)
    assert len(first) == 2 * 3 * 1 * 2
    assert [(dict(r.variables)["colour"], dict(r.variables)["animal"], r.seed) for r in first[:4]] == [
        ("red", "cat", seeds[0]), ("red", "cat", seeds[1]), ("red", "dog", seeds[0]), ("red", "dog", seeds[1])]
    assert first[0].prompt == "cat in red (small)"
    assert seeds != derived_seeds("other-name", 2) and all(0 <= s < 2**31 for s in seeds)


def test_sweep_makes_one_model_per_combination_and_generation_per_member(project: Project) -> None:
    spec = project.spec(models="""\
        models:
          lora:
            dataset: main
            training_mode: expert
            training: {total_training_steps: 1000, checkpoint_interval: 500}
            sweep:
              rank: [32, 64]
              learning_rate: [0.0001, 0.0002]
        """, generate="""\
        generate:
          model: lora
          images:
            - name: a
              prompt: a cat
              seeds: [1]
        """)
    desired = load_spec(spec)
    assert list(desired.models) == [
        "lora[rank=32,learning_rate=0.0001]", "lora[rank=32,learning_rate=0.0002]",
        "lora[rank=64,learning_rate=0.0001]", "lora[rank=64,learning_rate=0.0002]",
    ]
    member = desired.models["lora[rank=64,learning_rate=0.0002]"]
    assert member.training.rank == 64 and member.training.learning_rate == 0.0002
    assert member.training.total_training_steps == 1000 and member.sweep == (("rank", 64), ("learning_rate", 0.0002))
    dataset = desired.datasets["main"]
    assert len({m.remote_name(dataset) for m in desired.models.values()}) == 4
    stems = [r.file_stem for r in desired.generation.images]
    assert len(stems) == 4 and len(set(stems)) == 4
    assert stems[0] == "a/rank-32-learning-rate-0-0001/seed1"


def test_unquoted_ratio_and_exponent_floats_follow_yaml_1_2(project: Project) -> None:
    spec = project.spec(models="""\
        models:
          m:
            dataset: main
            training_mode: expert
            training: {learning_rate: 1e-4, lr_scheduler: cosine}
        """, generate="""\
        generate:
          model: m
          defaults: {aspect_ratio: 16:9}
          images:
            - name: a
              prompt: a cat
              matrix: {answer: [yes, no, on]}
        """)
    desired = load_spec(spec)
    assert desired.models["m"].training.learning_rate == 0.0001
    request = desired.generation.images[0]
    assert dict(request.params)["aspect_ratio"] == "16:9"
    assert [dict(r.variables)["answer"] for r in desired.generation.images] == ["yes", "no", "on"]


def test_upload_type_is_chosen_by_image_count(project: Project) -> None:
    few = project.spec(name="few.yaml", datasets="datasets:\n  few:\n    images: [images/*.png]\n    complete: false\n",
                       models="", generate="")
    dataset = load_spec(few).datasets["few"]
    assert dataset.upload_type == "basic" and dataset.upload_type_auto
    urls = "".join(f"      - https://example.com/{i}.png\n" for i in range(201))
    many = project.spec(name="many.yaml", datasets="datasets:\n  many:\n    images:\n" + urls + "    complete: false\n",
                        models="", generate="")
    # 201 images make the dataset advanced (one zip of local files), which cannot take URLs
    problems = validate_spec(many)
    assert [p.message for p in problems if p.is_error] == [
        "https://example.com/0.png: an advanced dataset is uploaded as one zip built from local files; "
        "it cannot include image URLs (201 listed)"]


def test_increase_resolution_true_accepts_small_images_down_to_256(project: Project) -> None:
    project.image("small/a.png", png_bytes(512, 512, shade=90))
    spec = project.spec(datasets=BASE_DATASETS.replace("      - path: images/*.png\n",
                                                       "      - path: images/*.png\n      - path: small/a.png\n"
                                                       "        increase_resolution: true\n"))
    images = {i.key: i for i in load_spec(spec).datasets["main"].images}
    assert images["small/a.png"].increase_resolution is True and images["small/a.png"].width == 512
    assert images["images/01.png"].increase_resolution is False


def test_allow_outside_permits_files_beyond_the_spec_directory(project: Project) -> None:
    (project.root.parent / "shared.png").write_bytes(png_bytes(shade=91))
    spec = project.spec(datasets=BASE_DATASETS.replace("      - path: images/*.png\n",
                                                       "      - path: images/*.png\n      - path: ../shared.png\n"))
    with pytest.raises(SpecErrors):
        load_spec(spec)
    desired = load_spec(spec, allow_outside=True)
    assert "../shared.png" in [i.key for i in desired.datasets["main"].images]


def test_spec_errors_hold_every_problem_rendered_with_position_and_hint(project: Project) -> None:
    spec = project.spec(models="models:\n  m:\n    dataset: nope\n    checkpoint: 500\n")
    with pytest.raises(SpecErrors) as caught:
        load_spec(spec)
    problems = caught.value.problems
    assert all(isinstance(p, SpecProblem) for p in problems) and len(problems) >= 2
    first = problems[0]
    assert first.render().startswith(f"{spec}:{first.line}:{first.col}: {first.path}: {first.message}")
    assert "\n  hint: " in first.render()
    assert str(spec) in caught.value.describe()
    assert validate_spec(spec) == problems


def test_captions_accept_json_text_and_keep_it(project: Project) -> None:
    spec = project.spec(datasets=BASE_DATASETS + "    captions:\n      ./images/03.png:\n"
                                                 "        caption: '{\"subject\": \"a cat\"}'\n        refine: [one, two]\n")
    image = [i for i in load_spec(spec).datasets["main"].images if i.key == "images/03.png"][0]
    assert image.caption == '{"subject": "a cat"}' and image.caption_refine == ("one", "two")


def test_generation_request_key_ignores_explicit_defaults(project: Project) -> None:
    plain = project.spec(name="plain.yaml")
    explicit = project.spec(name="explicit.yaml", generate="""\
        generate:
          model: m
          defaults: {guidance_scale: 5, steps_num: 50, tailored_model_influence: 1, aspect_ratio: "1:1"}
          images:
            - name: a
              prompt: a cat
        """)
    a: GenerationRequest = load_spec(plain).generation.images[0]
    b: GenerationRequest = load_spec(explicit).generation.images[0]
    assert a.key("m-1") == b.key("m-1")


def test_one_mistake_is_reported_once(project: Project) -> None:
    spec = project.spec(datasets="datasets:\n  main:\n    images: images/*.png\n    complete: 'yes'\n"
                                 "    visual_schema: {inline: {a: 1}}\n")
    problems = validate_spec(spec)
    assert [(p.path, p.message) for p in problems] == [
        ("datasets.main.images", "expected a list, found the string 'images/*.png'"),
        ("datasets.main.complete", "expected true or false, found the string 'yes'"),
    ]


def test_a_prompt_set_compares_several_model_versions_and_a_wrong_one_is_named(project: Project) -> None:
    models = """\
        models:
          lucy-v1:
            dataset: main
          lucy-v2:
            dataset: main
            training_mode: expert
            training: {rank: 16}
        """
    spec = project.spec(models=models, generate="""\
        generate:
          images:
            - name: a
              model: [lucy-v2, lucy-v1]
              prompt: a cat
              seeds: [1, 2]
        """)
    desired = load_spec(spec)
    assert [(r.model, r.seed) for r in desired.generation.images] == \
        [("lucy-v2", 1), ("lucy-v2", 2), ("lucy-v1", 1), ("lucy-v1", 2)]
    refs = {key: ModelRef(m.remote_name(desired.datasets["main"])) for key, m in desired.models.items()}
    outputs = expand_outputs(desired.generation, refs).images
    assert [o.name for o in outputs] == ["a/lucy-v2/seed1", "a/lucy-v2/seed2", "a/lucy-v1/seed1", "a/lucy-v1/seed2"]

    spec = project.spec(models=models, generate="""\
        generate:
          images:
            - name: a
              model: [lucy-v2, lucy-v3]
              prompt: a cat
        """)
    with pytest.raises(SpecErrors) as caught:
        load_spec(spec)
    [problem] = caught.value.errors
    assert (problem.path, problem.message) == ("generate.images[0].model[1]", "no model named 'lucy-v3'")
    assert problem.hint.startswith("did you mean 'lucy-v")
    assert (problem.line, problem.col) == (22, 24)  # the second item of the list
