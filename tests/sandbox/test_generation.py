"""v2 generation: sync and async envelopes, the status service, who may generate, input rules,
deterministic real images with the aspect ratio's proportions, structured prompts, videos."""

from __future__ import annotations

import io
import json

import pytest
from sandbox_api import OTHER_TOKEN, TG, Api, b64, png_bytes
from PIL import Image

from bria_pipeline.sandbox import rendering

IMAGE = "/v2/image/generate/tailored"
PROMPT = "/v2/structured_prompt/generate/tailored"
VIDEO = "/v2/video/generate/tailored/image-to-video"


@pytest.fixture
def model(api: Api) -> dict:
    return api.trained_model()


def _sync(api: Api, model: dict, **body) -> dict:
    response = api.post(IMAGE, json={"tailored_model_id": str(model["id"]), "sync": True, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_sync_generation_answers_the_result_envelope(api: Api, model: dict) -> None:
    body = _sync(api, model, prompt="Lucy at the beach")
    assert set(body) == {"result", "request_id"}
    result = body["result"]
    assert result["image_url"].startswith("http://sandbox.test/_sandbox/files/generated/")
    assert isinstance(result["seed"], int)
    assert json.loads(result["structured_prompt"])["emulated"] is True


def test_async_generation_is_in_progress_until_the_clock_moves(api: Api, model: dict) -> None:
    submitted = api.post(IMAGE, json={"tailored_model_id": str(model["id"]), "prompt": "Lucy in the city"})
    assert submitted.status_code == 202
    body = submitted.json()
    assert body["status_url"] == f"http://sandbox.test/v2/status/{body['request_id']}"
    assert api.get(body["status_url"]).json() == {"status": "IN_PROGRESS", "request_id": body["request_id"]}
    api.advance(0.2)
    done = api.get(body["status_url"]).json()
    assert done["status"] == "COMPLETED"
    assert api.get(done["result"]["image_url"], token=None).content.startswith(b"\x89PNG")


def test_status_of_unknown_or_foreign_requests_is_not_found(api: Api, model: dict) -> None:
    submitted = api.post(IMAGE, json={"tailored_model_id": str(model["id"]), "prompt": "x"}).json()
    assert api.get("/v2/status/nope").json() == {"status": "NOT_FOUND"}
    foreign = api.as_token(OTHER_TOKEN).get(f"/v2/status/{submitted['request_id']}")
    assert (foreign.status_code, foreign.json()) == (404, {"status": "NOT_FOUND"})


def test_generation_needs_a_completed_model_of_the_caller(api: Api, model: dict) -> None:
    other = api.as_token(OTHER_TOKEN).post(IMAGE, json={"tailored_model_id": str(model["id"]), "prompt": "x"})
    assert other.status_code == 403
    assert other.json()["error"]["code"] == 403
    assert api.post(IMAGE, json={"tailored_model_id": "987654", "prompt": "x"}).status_code == 403
    _, dataset = api.completed_dataset()
    pending = api.post(f"{TG}/models", json={"name": "p", "dataset_id": dataset["id"]}).json()
    assert api.post(IMAGE, json={"tailored_model_id": str(pending["id"]), "prompt": "x"}).status_code == 403
    assert api.post(IMAGE, json={"tailored_model_id": model["id"], "prompt": "x", "sync": True}).status_code == 200


@pytest.mark.parametrize("body", [
    {"prompt": "x", "aspect_ratio": "7:5"},
    {"prompt": "x", "guidance_scale": 6},
    {"prompt": "x", "steps_num": 10},
    {"prompt": "x", "tailored_model_influence": 2},
    {"prompt": "x", "seed": "one"},
    {},
    {"structured_prompt": "{}"},
    {"structured_prompt": "not json", "prompt": "x"},
])
def test_invalid_generation_input_is_400(api: Api, model: dict, body: dict) -> None:
    response = api.post(IMAGE, json={"tailored_model_id": str(model["id"]), **body})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_missing_model_id_is_400(api: Api) -> None:
    assert api.post(IMAGE, json={"prompt": "x"}).status_code == 400


def test_flagged_prompts_are_refused_with_422_unless_moderation_is_off(api: Api, model: dict) -> None:
    assert api.post(IMAGE, json={"tailored_model_id": str(model["id"]), "prompt": "an nsfw scene"}).status_code == 422
    _sync(api, model, prompt="an nsfw scene", prompt_content_moderation=False)


def _file(result: dict) -> str:
    """A result URL without its signature: the file it names."""
    return result["image_url"].split("?", 1)[0]


def test_images_are_deterministic_in_their_inputs(api: Api, model: dict) -> None:
    first = _sync(api, model, prompt="Lucy at dawn", seed=7)["result"]
    again = _sync(api, model, prompt="Lucy at dawn", seed=7)["result"]
    other_seed = _sync(api, model, prompt="Lucy at dawn", seed=8)["result"]
    other_prompt = _sync(api, model, prompt="Lucy at night", seed=7)["result"]
    # the same file (result URLs are signed afresh on every answer, so compare the file's path)
    assert _file(first) == _file(again) and {**first, "image_url": ""} == {**again, "image_url": ""}
    assert len({_file(first), _file(other_seed), _file(other_prompt)}) == 3
    unseeded = _sync(api, model, prompt="Lucy at dawn")["result"]
    assert unseeded["seed"] == _sync(api, model, prompt="Lucy at dawn")["result"]["seed"]


@pytest.mark.parametrize("ratio, size", [("1:1", (256, 256)), ("16:9", (256, 144)), ("9:16", (144, 256)),
                                         ("2:3", (171, 256)), ("5:4", (256, 205))])
def test_images_have_the_aspect_ratio_proportions_and_say_they_are_emulated(api: Api, model: dict, ratio, size) -> None:
    result = _sync(api, model, prompt="Lucy", aspect_ratio=ratio)["result"]
    image = Image.open(io.BytesIO(api.get(result["image_url"], token=None).content))
    assert image.size == size
    assert image.info["emulated"] == "true"


def test_structured_prompt_then_recreate_with_seed(api: Api, model: dict) -> None:
    made = api.post(PROMPT, json={"tailored_model_id": str(model["id"]), "prompt": "Lucy with a kite", "sync": True})
    assert made.status_code == 200
    structured = made.json()["result"]["structured_prompt"]
    assert json.loads(structured)["short_description"] == "Lucy with a kite"
    recreated = _sync(api, model, structured_prompt=structured, seed=3)["result"]
    again = _sync(api, model, structured_prompt=structured, seed=3)["result"]
    assert _file(recreated) == _file(again)
    refined = api.post(PROMPT, json={"tailored_model_id": str(model["id"]), "structured_prompt": structured,
                                     "prompt": "make it rain", "sync": True}).json()["result"]["structured_prompt"]
    assert json.loads(refined)["refinements"][-1] == {"instruction": "make it rain"}
    assert api.post(PROMPT, json={"tailored_model_id": str(model["id"]), "structured_prompt": structured}).status_code == 400


def test_structured_prompt_async_completes_through_status(api: Api, model: dict) -> None:
    submitted = api.post(PROMPT, json={"tailored_model_id": str(model["id"]), "prompt": "Lucy"}).json()
    api.advance(1)
    done = api.get(f"/v2/status/{submitted['request_id']}").json()
    assert done["status"] == "COMPLETED" and "structured_prompt" in done["result"]


def test_video_is_an_async_job_producing_a_real_video(api: Api, model: dict) -> None:
    source = png_bytes((320, 200), (10, 120, 200))
    submitted = api.post(VIDEO, json={"tailored_model_id": str(model["id"]), "image": b64(source), "seed": 42})
    assert submitted.status_code == 202
    assert api.get(f"/v2/status/{submitted.json()['request_id']}").json()["status"] == "IN_PROGRESS"
    api.advance(1)
    done = api.get(f"/v2/status/{submitted.json()['request_id']}").json()
    video = api.get(done["result"]["video_url"], token=None)
    if done["result"]["video_url"].split("?", 1)[0].endswith(".mp4"):
        assert video.headers["content-type"] == "video/mp4"
        assert_h264_mp4(video.content, frames=40)
    else:  # the default install: an animated WebP browsers play inline
        assert video.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(video.content)) as animated:
            assert animated.format == "WEBP" and animated.n_frames == 40 and animated.is_animated


def test_without_pyav_the_video_is_an_animated_webp_or_gif_from_pillow() -> None:
    for container in ("webp", "gif"):
        video, ext = rendering.render_video(Image.new("RGB", (320, 200), (10, 120, 200)), 7, container=container)
        assert ext == container
        with Image.open(io.BytesIO(video)) as animated:
            assert animated.format == container.upper() and animated.n_frames == 40
            assert animated.info.get("loop") == 0  # plays over and over


def assert_mjpeg_avi(data: bytes, *, frames: int) -> None:
    assert data[:4] == b"RIFF" and data[8:12] == b"AVI " and b"MJPG" in data[:400]
    assert data.count(b"00dc") >= frames


def assert_h264_mp4(data: bytes, *, frames: int) -> None:
    av = pytest.importorskip("av")
    assert data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = sum(1 for _ in container.decode(stream))
    assert decoded == frames


def test_without_pyav_the_video_is_an_mjpeg_avi_written_without_an_encoder() -> None:
    video, ext = rendering.render_video(Image.new("RGB", (320, 200), (10, 120, 200)), 7, container="avi")
    assert ext == "avi"
    assert_mjpeg_avi(video, frames=40)


def test_with_pyav_the_video_is_an_h264_mp4_browsers_play_and_the_same_input_gives_the_same_bytes() -> None:
    pytest.importorskip("av")
    source = Image.new("RGB", (320, 200), (10, 120, 200))
    video, ext = rendering.render_video(source, 7, container="mp4")
    assert ext == "mp4"
    assert_h264_mp4(video, frames=40)
    assert rendering.render_video(source, 7, container="mp4")[0] == video


def test_video_input_rules(api: Api, model: dict) -> None:
    mid = str(model["id"])
    assert api.post(VIDEO, json={"tailored_model_id": mid}).status_code == 400
    assert api.post(VIDEO, json={"tailored_model_id": "555", "image": b64(png_bytes((64, 64)))}).status_code == 404
    assert api.post(VIDEO, json={"tailored_model_id": mid, "image": b64(b"garbage bytes")}).status_code == 422
    gif = io.BytesIO()
    Image.new("RGB", (64, 64)).save(gif, format="GIF")
    assert api.post(VIDEO, json={"tailored_model_id": mid, "image": b64(gif.getvalue())}).status_code == 415


def test_video_accepts_the_url_of_a_generated_image(api: Api, model: dict) -> None:
    image_url = _sync(api, model, prompt="Lucy waving")["result"]["image_url"]
    assert api.post(VIDEO, json={"tailored_model_id": str(model["id"]), "image": image_url}).status_code == 202


def test_a_generation_job_can_be_made_to_end_in_error(api: Api, model: dict) -> None:
    submitted = api.post(IMAGE, json={"tailored_model_id": str(model["id"]), "prompt": "x"}).json()
    assert api.post(f"/_sandbox/requests/{submitted['request_id']}/fail", token=None).status_code == 200
    assert api.get(f"/v2/status/{submitted['request_id']}").json()["status"] == "IN_PROGRESS"
    api.advance(1)
    failed = api.get(f"/v2/status/{submitted['request_id']}").json()
    assert failed["status"] == "ERROR" and set(failed["error"]) == {"code", "message", "details"}
    assert api.post(f"/_sandbox/requests/{submitted['request_id']}/fail", token=None).status_code == 409


def test_configured_base_url_is_used_for_returned_urls(clock) -> None:
    from bria_pipeline.sandbox import create_app

    app = create_app(clock=clock, base_url="https://sandbox.example.org/")
    api = Api(app)
    try:
        model = api.trained_model()
        submitted = api.post(IMAGE, json={"tailored_model_id": str(model["id"]), "prompt": "x"}).json()
        assert submitted["status_url"] == f"https://sandbox.example.org/v2/status/{submitted['request_id']}"
        image = api.get(f"{TG}/datasets/{model['dataset_id']}/images").json()[0]
        assert image["image_url"].startswith("https://sandbox.example.org/_sandbox/files/images/")
    finally:
        api.close()
        app.state.sandbox.close()
