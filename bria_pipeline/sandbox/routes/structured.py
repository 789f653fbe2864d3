"""Emulated structured text: generate_visual_schema and refine_structured_prompt."""

from __future__ import annotations

from starlette.responses import Response

from bria_pipeline.sandbox import descriptions, imaging, lookups, moderation, sources
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.fields import Fields
from bria_pipeline.sandbox.problems import ApiProblem


def generate_visual_schema(call: Call) -> Response:
    f = Fields(call.body)
    images = f.str_list("images", required=True, min_items=5, max_items=10)
    content_moderation = f.bool("content_moderation", default=False)
    samples = []
    for index, value in enumerate(images):
        data = sources.image_bytes(call.sandbox, value, call.host, f"images[{index}]", limit=imaging.MAX_IMAGE_BYTES)
        image = imaging.decode_any(data)
        if content_moderation:
            moderation.check_image(value if sources.is_url(value) else None,
                                   " ".join(str(v) for v in image.info.values() if isinstance(v, str)))
        samples.append(imaging.pixel_facts(image))
    return reply({"visual_schema": descriptions.visual_schema(samples)})


def refine_structured_prompt(call: Call) -> Response:
    f = Fields(call.body)
    dataset_id = f.int("dataset_id", required=True)
    structured_prompt = f.str("structured_prompt", required=True, allow_empty=False)
    instruction = f.str("instruction", required=True, allow_empty=False)
    f.str_list("context_images")
    with call.sandbox.db.tx() as db:
        dataset = lookups.dataset(db, call.org, dataset_id)
    if dataset["status"] != "draft":
        raise ApiProblem(400, f"Dataset {dataset_id} is {dataset['status']}; refinement needs a draft dataset.")
    return reply({"structured_prompt": descriptions.refine(structured_prompt, instruction)})
