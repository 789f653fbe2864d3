"""One parser reads v2 answers in both shapes: wrapped in `result`, and flat."""

from __future__ import annotations

import pytest

from bria_pipeline.api.types import AsyncJob, GenerationResult, parse_generation, parse_result, parse_status

FIELDS = {"image_url": "https://cdn.example/a.png", "seed": "123456", "structured_prompt": '{"a": 1}',
          "prompt": "a cat", "refined_prompt": "a fluffy cat"}


def test_wrapped_and_flat_results_parse_to_the_same_values():
    wrapped = parse_result({"result": FIELDS, "request_id": "r1", "status": "COMPLETED"})
    flat = parse_result({**FIELDS, "request_id": "r1"})
    for result in (wrapped, flat):
        assert (result.image_url, result.seed, result.structured_prompt, result.request_id) == (
            "https://cdn.example/a.png", 123456, '{"a": 1}', "r1")
        assert result.prompt == "a cat" and result.refined_prompt == "a fluffy cat"


def test_a_generation_answer_is_a_job_when_it_only_names_a_request_and_a_result_otherwise():
    job = parse_generation({"request_id": "r2", "status_url": "https://engine.prod.bria-api.com/v2/status/r2"})
    assert isinstance(job, AsyncJob) and job.request_id == "r2" and job.status_url.endswith("/r2")
    done = parse_generation({"result": {"video_url": "https://cdn.example/v.mp4"}, "request_id": "r3"})
    assert isinstance(done, GenerationResult) and done.url == "https://cdn.example/v.mp4"
    sync_flat = parse_generation({"structured_prompt": {"b": 2}})
    assert isinstance(sync_flat, GenerationResult) and sync_flat.structured_prompt == '{"b": 2}'


def test_status_bodies_tell_running_completed_and_failed_apart():
    assert not parse_status({"status": "IN_PROGRESS", "request_id": "r"}).final
    done = parse_status({"status": "COMPLETED", "result": {"image_url": "u"}, "request_id": "r"})
    assert done.final and not done.failed and done.result.image_url == "u"
    failed = parse_status({"status": "ERROR", "error": {"code": 500, "message": "boom", "details": "x"},
                           "request_id": "r"})
    assert failed.failed and failed.error["message"] == "boom" and failed.result is None
    unknown = parse_status({"status": "UNKNOWN", "request_id": "r"})
    assert unknown.unknown and not unknown.final and not unknown.failed  # transient, the waiter counts them
    for other in ("FAILED", "failed", "CANCELLED", "Error", "something new"):
        assert parse_status({"status": other, "request_id": "r"}).failed, other
    assert not parse_status({"status": "in progress", "request_id": "r"}).final
    assert parse_status({"status": "completed", "result": {"image_url": "u"}}).status == "COMPLETED"


def test_dataset_and_model_statuses_compare_whatever_their_case():
    from bria_pipeline.api.types import Dataset, Model

    assert Dataset.from_json({"id": 1, "status": "Completed"}).completed
    assert Dataset.from_json({"id": 1, "status": "DRAFT"}).status == "draft"
    assert Dataset.from_json({"id": 1, "training_version": "MAX"}).training_version == "max"
    for wire, canonical in (("completed", "Completed"), ("in_progress", "InProgress"), ("IN PROGRESS", "InProgress"),
                            ("created", "Created"), ("STOPPED", "Stopped"), ("Failed", "Failed")):
        assert Model.from_json({"id": 1, "status": wire}).status == canonical, wire


@pytest.mark.anyio
async def test_a_real_sandbox_answer_parses_the_same_wrapped_and_flattened(client):
    from against_sandbox import make_dataset_with_images, make_project

    project = await make_project(client)
    dataset = await make_dataset_with_images(client, project.id)
    await client.update_dataset(dataset.id, status="completed")
    model = await client.create_model("m", dataset.id)
    await client.start_training(model.id)
    await client.wait_for_training(model.id, interval=1, timeout=60)
    wrapped = await client.generate_image(model.id, prompt="Lucy", seed=4, sync=True)
    assert "result" in wrapped.raw, "the sandbox answers in the wrapped shape"
    flat = parse_result({**wrapped.raw["result"], "request_id": wrapped.raw["request_id"]})
    fields = ("image_url", "seed", "structured_prompt", "prompt", "request_id")
    assert [getattr(flat, f) for f in fields] == [getattr(wrapped, f) for f in fields]
    assert wrapped.seed == 4 and wrapped.image_url


@pytest.mark.anyio
async def test_every_field_of_a_resource_is_read_from_the_sandbox_answer(client):
    """A field is the answer's key of its own name, but for those the contract names otherwise or
    that are parsed (statuses, numbers, nested results): read from a real answer, none is lost."""
    from dataclasses import fields

    from against_sandbox import make_dataset_with_images, make_project

    project = await make_project(client)
    dataset = await make_dataset_with_images(client, project.id)
    model = await client.create_model("m", dataset.id, description="Lucy's LoRA")
    parsed_otherwise = {"raw", "name", "description", "status", "captions_update_status", "images_count", "images",
                        "model_ids", "training_version", "training_parameters", "checkpoint_steps"}
    for resource in (project, dataset, dataset.images[0], await client.get_model(model.id)):
        same_name = [f.name for f in fields(resource) if f.name not in parsed_otherwise]
        assert [getattr(resource, f) for f in same_name] == [resource.raw.get(f) for f in same_name]
        assert any(resource.raw.get(f) is not None for f in same_name if f != "id"), resource
    assert (project.name, project.description) == ("lucy-brand", project.raw["project_description"])
    assert (dataset.name, dataset.images_count, len(dataset.images)) == ("lucy-v1", 5, 5)
    assert (model.name, model.description, model.status, model.dataset_id) == ("m", "Lucy's LoRA", "Created", dataset.id)
    assert dataset.images[0].image_name == "img-0.png" and dataset.images[0].caption
