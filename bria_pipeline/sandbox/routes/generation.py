"""v2 generation with a tailored model: image, structured prompt, image-to-video.

Envelopes follow Bria's v2 API and its Python SDK: synchronous 200
`{"result": {...}, "request_id"}`, asynchronous 202 `{"request_id", "status_url"}` (an absolute
URL on this sandbox), job status at /v2/status/{request_id}.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.responses import Response

from bria_pipeline.sandbox import descriptions, imaging, moderation, rendering, sources
from bria_pipeline.sandbox.calls import Call, reply
from bria_pipeline.sandbox.fields import Fields
from bria_pipeline.sandbox.problems import ApiProblem, new_request_id
from bria_pipeline.sandbox.routes.status import fresh_result
from bria_pipeline.sandbox.variant import LEGACY_VERSIONS

EMULATED_FAILURE = {"code": 500, "message": "Internal Server Error",
                    "details": "Emulated generation failure (sandbox fault plan generation_error_rate)."}


def _model_ref(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _tailored_model(call: Call, value: Any, *, missing_status: int) -> tuple[Any, str | None]:
    """The caller's Completed model and its dataset's visual schema."""
    model_id = _model_ref(value)
    with call.sandbox.db.tx() as db:
        row = None if model_id is None else db.execute(
            "SELECT * FROM models WHERE id=? AND org=?", (model_id, call.org)).fetchone()
        if row is None:
            raise ApiProblem(missing_status, f"Tailored model {value!r} does not exist or does not belong to your "
                                             "organization.")
        if row["status"] != "Completed":
            raise ApiProblem(403, f"Tailored model {model_id} is not available for generation: status {row['status']} "
                                  "(generation needs a Completed model).")
        dataset = db.execute("SELECT visual_schema, training_version FROM datasets WHERE id=?",
                             (row["dataset_id"],)).fetchone() if row["dataset_id"] is not None else None
    if call.sandbox.variant.transitional and dataset is not None and dataset["training_version"] in LEGACY_VERSIONS:
        raise ApiProblem(400, f"Tailored model {model_id} was trained with training_version "
                              f"'{dataset['training_version']}': v2 tailored generation supports fibo models only.")
    return row, (dataset["visual_schema"] if dataset else None)


def _derived_seed(material: dict[str, Any]) -> int:
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31)


def _save_job(call: Call, kind: str, model_id: int, result: dict[str, Any], delay: float) -> tuple[str, bool]:
    request_id = new_request_id()
    failed = call.sandbox.gate.generation_fails()
    if not failed:  # a job that ends in ERROR is not charged
        call.sandbox.stats.record_billed(kind)
    with call.sandbox.db.tx() as db:
        db.execute(
            "INSERT INTO requests(request_id, org, kind, model_id, status, result, error, created_at, ready_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (request_id, call.org, kind, model_id, "ERROR" if failed else "COMPLETED",
             None if failed else json.dumps(result), json.dumps(EMULATED_FAILURE) if failed else None,
             call.now, call.now + delay),
        )
    return request_id, failed


def _answer(call: Call, kind: str, model_id: int, result: dict[str, Any], *, sync: bool, delay: float) -> Response:
    request_id, failed = _save_job(call, kind, model_id, result, 0.0 if sync else delay)
    if not sync:
        return reply({"request_id": request_id, "status_url": call.url(f"/v2/status/{request_id}")}, 202)
    if failed:
        return reply({"error": EMULATED_FAILURE, "request_id": request_id}, 500)
    return reply({"result": fresh_result(call.sandbox, result, call.now), "request_id": request_id})


def generate_image(call: Call) -> Response:
    f = Fields(call.body)
    model_value = f.body.get("tailored_model_id")
    if model_value is None:
        f.str("tailored_model_id", required=True)
    influence = f.number("tailored_model_influence", default=1.0, minimum=0, maximum=1.5)
    prompt = f.str("prompt", allow_empty=False)
    base = f.str("structured_prompt", allow_empty=False)
    negative = f.str("negative_prompt", default="")
    guidance = f.int("guidance_scale", default=5, minimum=3, maximum=5)
    aspect_ratio = f.enum("aspect_ratio", rendering.ASPECT_RATIOS, default="1:1")
    steps = f.int("steps_num", default=50, minimum=20, maximum=50)
    seed = f.int("seed")
    sync = f.bool("sync", default=False)
    check_prompt = f.bool("prompt_content_moderation", default=True)
    f.bool("visual_output_content_moderation", default=True)
    if prompt is None and base is None:
        raise ApiProblem(400, "Provide prompt, structured_prompt with seed, or structured_prompt with prompt.")
    if base is not None and prompt is None and seed is None:
        raise ApiProblem(400, "Recreating an image from structured_prompt alone requires seed.")
    if base is not None:
        descriptions.parse_json_text(base, "structured_prompt")
    if check_prompt:
        moderation.check_prompt(prompt, negative)
    model, schema = _tailored_model(call, model_value, missing_status=403)
    material = {"model": model["id"], "version": model["active_model_version"], "prompt": prompt,
                "structured_prompt": base, "negative_prompt": negative, "aspect_ratio": aspect_ratio,
                "guidance_scale": guidance, "steps_num": steps, "influence": influence}
    seed = _derived_seed(material) if seed is None else seed
    final_prompt = descriptions.structured_prompt(schema, prompt, base, model_id=model["id"], seed=seed)
    png = rendering.render_png(json.dumps({**material, "seed": seed}, sort_keys=True),
                               prompt or json.loads(final_prompt).get("short_description", ""), aspect_ratio)
    blob = call.sandbox.blobs.put(png)
    result: dict[str, Any] = {"image_url": call.url(f"/_sandbox/files/generated/{blob}.png"), "seed": seed,
                              "structured_prompt": final_prompt}
    if prompt is not None:
        result["prompt"] = prompt
    return _answer(call, "image", model["id"], result, sync=sync, delay=call.sandbox.timings.generation_seconds)


def generate_structured_prompt(call: Call) -> Response:
    f = Fields(call.body)
    model_value = f.body.get("tailored_model_id")
    if model_value is None:
        f.str("tailored_model_id", required=True)
    prompt = f.str("prompt", allow_empty=False)
    base = f.str("structured_prompt", allow_empty=False)
    seed = f.int("seed")
    sync = f.bool("sync", default=False)
    check_prompt = f.bool("prompt_content_moderation", default=True)
    if prompt is None:
        raise ApiProblem(400, "prompt is required (text only, or structured_prompt with prompt to refine it).")
    if base is not None:
        descriptions.parse_json_text(base, "structured_prompt")
    if check_prompt:
        moderation.check_prompt(prompt)
    model, schema = _tailored_model(call, model_value, missing_status=403)
    if seed is None:
        seed = _derived_seed({"model": model["id"], "prompt": prompt, "structured_prompt": base})
    text = descriptions.structured_prompt(schema, prompt, base, model_id=model["id"], seed=seed)
    return _answer(call, "structured_prompt", model["id"], {"structured_prompt": text, "seed": seed},
                   sync=sync, delay=call.sandbox.timings.generation_seconds)


def _source_image(call: Call, value: str) -> tuple[bytes, Image.Image]:
    if sources.is_url(value):
        data = sources.fetch(call.sandbox, value, call.host, limit=imaging.MAX_IMAGE_BYTES)
    else:
        try:
            data = sources.decode_base64(value, "image")
        except ApiProblem:
            raise ApiProblem(422, "Invalid image data: image is neither a URL nor valid base64.") from None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiProblem(422, "Invalid image data: the image could not be decoded.") from None
    if image.format not in imaging.FORMATS:
        raise ApiProblem(415, f"Unsupported media type: {image.format} (jpg, jpeg, png, webp are accepted).")
    return data, image


def generate_video(call: Call) -> Response:
    f = Fields(call.body)
    # the contract names it tailored_model_id; Bria's SDK (since "fix video payload") and one
    # docs page send model_id: either is accepted, and both must agree when both are sent
    model_value = f.body.get("tailored_model_id")
    other = f.body.get("model_id")
    if model_value is not None and other is not None and str(model_value) != str(other):
        raise ApiProblem(400, f"tailored_model_id {model_value!r} and model_id {other!r} name different models.")
    model_value = model_value if model_value is not None else other
    if model_value is None:
        f.str("tailored_model_id", required=True)
    image_value = f.str("image", required=True, allow_empty=False)
    seed = f.int("seed")
    model, _schema = _tailored_model(call, model_value, missing_status=404)
    data, image = _source_image(call, image_value)
    if seed is None:
        seed = _derived_seed({"model": model["id"], "image": hashlib.sha256(data).hexdigest()})
    video, ext = rendering.render_video(image, seed)
    blob = call.sandbox.blobs.put(video)
    result = {"video_url": call.url(f"/_sandbox/files/videos/{blob}.{ext}"), "seed": seed}
    return _answer(call, "video", model["id"], result, sync=False, delay=call.sandbox.timings.video_seconds)
