"""The asynchronous Bria API client: one method per operation of the contract.

    async with AsyncBriaClient() as bria:                 # token from BRIA_API_TOKEN
        project = await bria.create_project("lucy-brand", ip_medium="illustration",
                                            ip_type="defined_character", ip_name="Lucy")
        job = await bria.generate_image(model_id, prompt="Lucy at the beach")
        result = await bria.wait_for_job(job)
        png = await bria.fetch_bytes(result.image_url)

Method names follow the operation table (operations.py); request bodies are the contract's JSON,
with arguments left at None not sent. Results are typed (types.py). The rules for retries,
read-back, pacing and the token live in session.py.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bria_pipeline.api import polling
from bria_pipeline.api.clock import Clock
from bria_pipeline.api.config import resolve_config
from bria_pipeline.api.errors import ApiError, BadRequest, ConfigError, ModerationError
from bria_pipeline.api.operations import BY_NAME, Operation
from bria_pipeline.api.pacing import RateLimiter
from bria_pipeline.api.readback import FINDERS, Outcome
from bria_pipeline.api.retry import RetryPolicy
from bria_pipeline.api.secret import Secret
from bria_pipeline.api.session import ApiSession, Call
from bria_pipeline.api.stats import ApiEvent, EventHandler, RequestStats
from bria_pipeline.api.types import (
    AsyncJob,
    BulkUploadStatus,
    Checkpoint,
    CheckpointList,
    Dataset,
    Download,
    GenerationResult,
    Image,
    JobStatus,
    Model,
    Project,
    TrainingParameters,
    parse_generation,
    parse_list,
    parse_status,
)

ImageInput = str | bytes | Path

# The training family every dataset and model is created in. Transitional versions of Bria's docs
# default to "max" (legacy) when it is not sent; the latest contract no longer lists the field.
TRAINING_VERSION = "fibo"
TRAINING_VERSION_FIELD = "training_version"


# Words an API uses when it does not know a field at all (pydantic's "extra_forbidden", "Extra
# inputs are not permitted", "unknown field", "unexpected keyword"...), as opposed to a 400 that
# names the field for another reason ("locked to training_version 'max'").
_UNKNOWN_FIELD_WORDS = ("extra", "unknown", "unexpected", "not permitted", "not allowed", "unrecognized",
                        "unrecognised", "not supported", "unsupported", "no longer")


def _refuses_field(exc: ApiError, name: str) -> bool:
    """Does a 400/422 answer say that the API does not take the field `name` at all?"""
    text = " ".join(str(part) for part in (exc.bria_message, exc.message, exc.details) if part).lower()
    return name in text and any(word in text for word in _UNKNOWN_FIELD_WORDS)


def _clean(**fields: Any) -> dict[str, Any]:
    """A request body without the fields left at None."""
    return {k: v for k, v in fields.items() if v is not None}


def encode_image(image: ImageInput) -> str:
    """An image argument as the contract's JSON wants it: a URL or base64 text stay as they are,
    bytes and local paths become base64."""
    if isinstance(image, Path):
        return base64.b64encode(image.read_bytes()).decode("ascii")
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(bytes(image)).decode("ascii")
    return image


class AsyncBriaClient:
    """All of Bria's Tailored Generation and status operations, safe to call concurrently.

    api_url               the API's root; default $BRIA_API_URL, $BRIA_BASE_URL, then
                          https://engine.prod.bria-api.com
    token                 default $BRIA_API_TOKEN; ConfigError when missing (unless sandbox)
    transport             an httpx transport for the API (httpx.ASGITransport for the in-process
                          sandbox); URLs on other hosts always use the network, without the token
    rate_limit_per_minute pace requests to stay under the plan's limit (None: no pacing)
    rate_limit_per_endpoint  count the limit per endpoint, as Bria does, instead of overall
    max_concurrency       requests in flight at once
    timeout               seconds per request (connect, read, write each)
    call_timeout          seconds one call may take in all, retries and pauses included (None:
                          bounded by retry.max_elapsed and `timeout`)
    retry                 RetryPolicy (attempts, total time, backoff)
    on_event              called with an ApiEvent for every request and decision
    sandbox               target the local sandbox: no token needed, the environment's is not used
    clock                 time source for waits (tests drive a manual one)
    """

    def __init__(
        self,
        api_url: str | None = None,
        token: str | Secret | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit_per_minute: float | None = None,
        rate_limit_per_endpoint: bool = False,
        max_concurrency: int = 8,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        on_event: EventHandler | None = None,
        sandbox: bool = False,
        clock: Clock | None = None,
        external_transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        call_timeout: float | None = None,
    ) -> None:
        if sandbox and transport is None and api_url is None:
            raise ConfigError(
                "sandbox mode needs the sandbox's transport or URL",
                hint="Pass transport=httpx.ASGITransport(app=create_app(...)) or the URL of `sandbox serve`.",
            )
        self.config = resolve_config(api_url, token, sandbox=sandbox)
        limiter = RateLimiter(rate_limit_per_minute, per_endpoint=rate_limit_per_endpoint, clock=clock)
        self._session = ApiSession(
            self.config,
            transport=transport,
            external_transport=external_transport,
            timeout=timeout,
            max_concurrency=max_concurrency,
            retry=retry,
            limiter=limiter,
            clock=clock,
            on_event=on_event,
            rng=rng,
            call_timeout=call_timeout,
            finders=FINDERS,
        )
        # set once the API answered a definite 400/422 naming training_version: not sent again
        self.training_version_refused = False

    def __repr__(self) -> str:
        return f"AsyncBriaClient(api_url={self.config.api_url!r}, token={self.config.token!r})"

    async def __aenter__(self) -> AsyncBriaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.aclose()

    @property
    def api_url(self) -> str:
        return self.config.api_url

    @property
    def stats(self) -> RequestStats:
        return self._session.stats

    @property
    def session(self) -> ApiSession:
        return self._session

    @property
    def call_timeout(self) -> float | None:
        """Seconds one call may take in all, retries and pauses included (None: no such bound)."""
        return self._session.call_timeout

    @call_timeout.setter
    def call_timeout(self, seconds: float | None) -> None:
        self._session.set_call_timeout(seconds)

    async def read_back(
        self, operation: str, path: Mapping[str, Any] | None = None, *, json: Any = None
    ) -> Outcome:
        """Did an earlier creating call take effect? The same finder the retry logic uses.

        For a pending intent found on the next run (the request left, its answer never came):
        `read_back("create_dataset", json={"project_id": 1, "name": "lucy-3fa2c1"})` lists and
        matches by name. `.found` with `.body` (the resource's JSON), `.absent` (safe to send),
        or neither (ambiguous: `.reason`, `.candidates`).
        """
        op = BY_NAME[operation]
        finder = FINDERS.get(op.readback or "")
        if finder is None:
            raise ValueError(f"{operation} has no read-back (only creating POSTs other than generations do)")
        return await finder(self._session, Call(op, dict(path or {}), json, None))

    async def _call(self, name: str, path: Mapping[str, Any] | None = None, *, json: Any = None,
                    params: Mapping[str, Any] | None = None) -> Any:
        op: Operation = BY_NAME[name]
        return await self._session.call(op, path, json=json, params=params)

    # ------------------------------------------------------------------ projects

    async def create_project(
        self,
        project_name: str,
        *,
        ip_medium: str,
        ip_type: str,
        project_description: str | None = None,
        ip_name: str | None = None,
        ip_description: str | None = None,
    ) -> Project:
        body = _clean(project_name=project_name, project_description=project_description, ip_name=ip_name,
                      ip_description=ip_description, ip_medium=ip_medium, ip_type=ip_type)
        return Project.from_json(await self._call("create_project", json=body))

    async def list_projects(self) -> list[Project]:
        return parse_list(Project, await self._call("list_projects"))

    async def get_project(self, project_id: int | str) -> Project:
        return Project.from_json(await self._call("get_project", {"project_id": project_id}))

    async def update_project(
        self,
        project_id: int | str,
        *,
        project_name: str | None = None,
        project_description: str | None = None,
        ip_name: str | None = None,
        ip_description: str | None = None,
    ) -> Project:
        body = _clean(project_name=project_name, project_description=project_description, ip_name=ip_name,
                      ip_description=ip_description)
        return Project.from_json(await self._call("update_project", {"project_id": project_id}, json=body))

    async def delete_project(self, project_id: int | str) -> None:
        await self._call("delete_project", {"project_id": project_id})

    # ------------------------------------------------------------------ datasets

    async def _create_versioned(self, name: str, body: dict[str, Any], training_version: str | None) -> Any:
        """A create_dataset / create_model call carrying `training_version`, unless the API refuses
        that field: a definite 400/422 naming it had no side effect, so the same request is sent
        again without it (and the field is left out for the rest of the session)."""
        if training_version is None or self.training_version_refused:
            return await self._call(name, json=body)
        try:
            return await self._call(name, json={**body, TRAINING_VERSION_FIELD: training_version})
        except (BadRequest, ModerationError) as exc:
            if not _refuses_field(exc, TRAINING_VERSION_FIELD):
                raise
            self.training_version_refused = True
            op = BY_NAME[name]
            self._session.emit(ApiEvent("retry", name, op.method, op.path, 1, exc.status,
                                         message=f"sent again without {TRAINING_VERSION_FIELD} (the API refused it)"))
            return await self._call(name, json=body)

    async def create_dataset(self, project_id: int, name: str, *, upload_type: str | None = None,
                             training_version: str | None = TRAINING_VERSION) -> Dataset:
        """A new draft dataset, in the `fibo` training family unless told otherwise (None: not sent)."""
        body = _clean(project_id=project_id, name=name, upload_type=upload_type)
        return Dataset.from_json(await self._create_versioned("create_dataset", body, training_version))

    async def list_datasets(self) -> list[Dataset]:
        return parse_list(Dataset, await self._call("list_datasets"))

    async def list_project_datasets(
        self, project_id: int | str, *, include_models: bool = False, include_models_ids: bool = False
    ) -> list[Dataset]:
        params = {"include_models": include_models or None, "include_models_ids": include_models_ids or None}
        return parse_list(Dataset, await self._call("list_project_datasets", {"project_id": project_id},
                                                    params=params))

    async def get_dataset(self, dataset_id: int | str, *, max_images: int | None = None) -> Dataset:
        return Dataset.from_json(await self._call("get_dataset", {"dataset_id": dataset_id},
                                                  params={"max_images": max_images}))

    async def update_dataset(
        self,
        dataset_id: int | str,
        *,
        name: str | None = None,
        visual_schema: str | None = None,
        status: str | None = None,
    ) -> Dataset:
        body = _clean(name=name, visual_schema=visual_schema, status=status)
        return Dataset.from_json(await self._call("update_dataset", {"dataset_id": dataset_id}, json=body))

    async def delete_dataset(self, dataset_id: int | str) -> None:
        await self._call("delete_dataset", {"dataset_id": dataset_id})

    async def clone_dataset(
        self, dataset_id: int | str, *, name: str | None = None, description: str | None = None
    ) -> Dataset:
        """A draft copy with the source's images and visual schema. Give `name`: without it a
        lost answer cannot be read back."""
        body = _clean(name=name, description=description)
        return Dataset.from_json(await self._call("clone_dataset", {"dataset_id": dataset_id}, json=body))

    async def download_dataset(self, dataset_id: int | str) -> Download:
        return Download.from_json(await self._call("download_dataset", {"dataset_id": dataset_id}))

    # ------------------------------------------------------------------ images

    async def upload_image(
        self,
        dataset_id: int | str,
        *,
        file: bytes | Path | str | None = None,
        image_url: str | None = None,
        image_name: str | None = None,
        increase_resolution: bool | None = None,
        content_moderation: bool | None = None,
    ) -> Image:
        """Upload one image as the contract's JSON: `file` (bytes, a path, or base64 text) or
        `image_url`. Give `image_name`: a lost answer is read back by it."""
        if (file is None) == (image_url is None):
            raise ValueError("upload_image needs exactly one of file= and image_url=")
        body = _clean(
            file=encode_image(file) if file is not None else None,
            image_url=image_url,
            image_name=image_name,
            increase_resolution=increase_resolution,
            content_moderation=content_moderation,
        )
        return Image.from_json(await self._call("upload_image", {"dataset_id": dataset_id}, json=body))

    async def list_images(self, dataset_id: int | str) -> list[Image]:
        return parse_list(Image, await self._call("list_images", {"dataset_id": dataset_id}))

    async def regenerate_all_captions(self, dataset_id: int | str) -> Dataset:
        return Dataset.from_json(await self._call("regenerate_all_captions", {"dataset_id": dataset_id}))

    async def bulk_upload(
        self, dataset_id: int | str, zip_url: str, *, content_moderation: bool | None = None
    ) -> BulkUploadStatus | None:
        """Start the dataset's one bulk upload; poll it with wait_for_bulk_upload."""
        body = _clean(zip_url=zip_url, content_moderation=content_moderation)
        answer = await self._call("bulk_upload", {"dataset_id": dataset_id}, json=body)
        return BulkUploadStatus.from_json(answer) if isinstance(answer, Mapping) and answer.get("status") else None

    async def bulk_upload_status(self, dataset_id: int | str) -> BulkUploadStatus:
        return BulkUploadStatus.from_json(await self._call("bulk_upload_status", {"dataset_id": dataset_id}))

    async def get_image(self, dataset_id: int | str, image_id: int | str) -> Image:
        return Image.from_json(await self._call("get_image", {"dataset_id": dataset_id, "image_id": image_id}))

    async def update_image_caption(
        self,
        dataset_id: int | str,
        image_id: int | str,
        *,
        caption: str | None = None,
        regenerate_caption: bool = False,
    ) -> Image:
        """Set a caption (a JSON string) or have it regenerated: exactly one of the two."""
        if (caption is None) == (not regenerate_caption):
            raise ValueError("update_image_caption needs exactly one of caption= and regenerate_caption=True")
        body = {"caption": caption} if caption is not None else {"regenerate_caption": True}
        path = {"dataset_id": dataset_id, "image_id": image_id}
        return Image.from_json(await self._call("update_image_caption", path, json=body))

    async def delete_image(self, dataset_id: int | str, image_id: int | str) -> None:
        await self._call("delete_image", {"dataset_id": dataset_id, "image_id": image_id})

    # ------------------------------------------------------------------ structured data

    async def generate_visual_schema(
        self, images: Sequence[ImageInput], *, content_moderation: bool | None = None
    ) -> str:
        """The visual schema (a JSON string) for 5-10 sample images (URLs, base64, bytes or paths)."""
        body = _clean(images=[encode_image(i) for i in images], content_moderation=content_moderation)
        answer = await self._call("generate_visual_schema", json=body)
        schema: str = answer["visual_schema"]
        return schema

    async def refine_structured_prompt(
        self,
        dataset_id: int,
        structured_prompt: str,
        instruction: str,
        *,
        context_images: Sequence[ImageInput] | None = None,
    ) -> str:
        """A visual schema or caption rewritten by a natural-language instruction."""
        body = _clean(
            dataset_id=dataset_id,
            structured_prompt=structured_prompt,
            instruction=instruction,
            context_images=[encode_image(i) for i in context_images] if context_images else None,
        )
        answer = await self._call("refine_structured_prompt", json=body)
        refined: str = answer["structured_prompt"]
        return refined

    # ------------------------------------------------------------------ models

    async def create_model(
        self,
        name: str,
        dataset_id: int,
        *,
        training_mode: str | None = None,
        description: str | None = None,
        training_version: str | None = TRAINING_VERSION,
    ) -> Model:
        body = _clean(name=name, dataset_id=dataset_id, training_mode=training_mode, description=description)
        return Model.from_json(await self._create_versioned("create_model", body, training_version))

    async def list_models(self, *, include_training_parameters: bool = False) -> list[Model]:
        params = {"include_training_parameters": include_training_parameters or None}
        return parse_list(Model, await self._call("list_models", params=params))

    async def list_project_models(
        self, project_id: int | str, *, include_training_parameters: bool = False
    ) -> list[Model]:
        params = {"include_training_parameters": include_training_parameters or None}
        return parse_list(Model, await self._call("list_project_models", {"project_id": project_id}, params=params))

    async def get_model(self, model_id: int | str) -> Model:
        return Model.from_json(await self._call("get_model", {"model_id": model_id}))

    async def update_model(
        self, model_id: int | str, *, name: str | None = None, description: str | None = None
    ) -> Model:
        body = _clean(name=name, description=description)
        return Model.from_json(await self._call("update_model", {"model_id": model_id}, json=body))

    async def delete_model(self, model_id: int | str) -> None:
        await self._call("delete_model", {"model_id": model_id})

    async def start_training(
        self,
        model_id: int | str,
        parameters: TrainingParameters | Mapping[str, Any] | None = None,
    ) -> Model:
        """Start the model's (billed) training. Expert-mode parameters are optional."""
        if isinstance(parameters, TrainingParameters):
            body = parameters.as_body()
        else:
            body = _clean(**dict(parameters or {}))
        return Model.from_json(await self._call("start_training", {"model_id": model_id}, json=body))

    async def stop_training(self, model_id: int | str) -> Model | None:
        """Stop a training for good (it cannot be resumed)."""
        answer = await self._call("stop_training", {"model_id": model_id})
        return Model.from_json(answer) if isinstance(answer, Mapping) and "id" in answer else None

    async def list_checkpoints(self, model_id: int | str) -> CheckpointList:
        return CheckpointList.from_json(await self._call("list_checkpoints", {"model_id": model_id}))

    async def get_checkpoint(self, model_id: int | str, checkpoint_step: int) -> Checkpoint:
        path = {"model_id": model_id, "checkpoint_step": checkpoint_step}
        return Checkpoint.from_json(await self._call("get_checkpoint", path))

    async def delete_checkpoint(self, model_id: int | str, checkpoint_step: int) -> None:
        await self._call("delete_checkpoint", {"model_id": model_id, "checkpoint_step": checkpoint_step})

    async def upload_model(
        self,
        model_url: str,
        *,
        model_name: str | None = None,
        project_id: int | None = None,
        project_parameters: Mapping[str, Any] | None = None,
    ) -> Model:
        """Bring a trained .safetensors model in; without project_id a project is made from
        project_parameters. Give `model_name`: a lost answer is read back by it."""
        body = _clean(model_url=model_url, model_name=model_name, project_id=project_id,
                      project_parameters=dict(project_parameters) if project_parameters else None)
        return Model.from_json(await self._call("upload_model", json=body))

    async def download_model(self, model_id: int | str) -> Download:
        return Download.from_json(await self._call("download_model", {"model_id": model_id}))

    # ------------------------------------------------------------------ generation (v2)

    async def generate_image(
        self,
        tailored_model_id: int | str,
        *,
        prompt: str | None = None,
        structured_prompt: str | None = None,
        seed: int | None = None,
        sync: bool = False,
        tailored_model_influence: float | None = None,
        negative_prompt: str | None = None,
        guidance_scale: int | None = None,
        aspect_ratio: str | None = None,
        steps_num: int | None = None,
        prompt_content_moderation: bool | None = None,
        visual_output_content_moderation: bool | None = None,
    ) -> GenerationResult | AsyncJob:
        """A billed generation. Async (default): an AsyncJob to record, then wait_for_job.

        A lost answer cannot be read back: AmbiguousResult is raised, never a second request."""
        body = _clean(
            tailored_model_id=str(tailored_model_id), prompt=prompt, structured_prompt=structured_prompt,
            seed=seed, sync=sync, tailored_model_influence=tailored_model_influence,
            negative_prompt=negative_prompt, guidance_scale=guidance_scale, aspect_ratio=aspect_ratio,
            steps_num=steps_num, prompt_content_moderation=prompt_content_moderation,
            visual_output_content_moderation=visual_output_content_moderation,
        )
        return parse_generation(await self._call("generate_image", json=body))

    async def generate_structured_prompt(
        self,
        tailored_model_id: int | str,
        *,
        prompt: str | None = None,
        structured_prompt: str | None = None,
        seed: int | None = None,
        sync: bool = False,
        prompt_content_moderation: bool | None = None,
    ) -> GenerationResult | AsyncJob:
        body = _clean(
            tailored_model_id=str(tailored_model_id), prompt=prompt, structured_prompt=structured_prompt,
            seed=seed, sync=sync, prompt_content_moderation=prompt_content_moderation,
        )
        return parse_generation(await self._call("generate_structured_prompt", json=body))

    async def generate_video(
        self, tailored_model_id: int | str, image: ImageInput, *, seed: int | None = None
    ) -> GenerationResult | AsyncJob:
        """Image-to-video with a tailored model. The model goes as both `tailored_model_id` (the
        contract) and `model_id` (Bria's SDK since "fix video payload", and one docs page), with
        the same value, so either reading of the API finds it."""
        model = str(tailored_model_id)
        body = _clean(tailored_model_id=model, model_id=model, image=encode_image(image), seed=seed)
        return parse_generation(await self._call("generate_video", json=body))

    # ------------------------------------------------------------------ status and URLs

    async def get_status(self, request_id: str) -> JobStatus:
        return parse_status(await self._call("get_status", {"request_id": request_id}))

    async def get_status_url(self, status_url: str) -> JobStatus:
        """Poll a status_url as the server gave it (the token goes only to the API's host)."""
        return parse_status(await self._session.fetch_json(status_url, operation=BY_NAME["get_status"]))

    async def fetch_bytes(self, url: str) -> bytes:
        """Download an image, video or file URL the server returned (token only to the API's host)."""
        return (await self._session.fetch(url)).content

    # ------------------------------------------------------------------ waiting

    async def wait_for_job(self, job: AsyncJob | str, **kw: Any) -> GenerationResult:
        """Poll a request until COMPLETED (see polling.wait_for_job): at its status_url when that is
        on the API root, else at /v2/status/{id}. A status_url on another host (a proxy in between,
        an API URL changed since the request was recorded) would be polled without the token,
        rightly, and answer 401: the API root's own status route knows the same request id."""
        request_id, status_url = (job.request_id, job.status_url) if isinstance(job, AsyncJob) else (job, None)
        if status_url and self._session.is_api_url(self._session.absolute(status_url)):
            url = status_url
            return await polling.wait_for_job(self._session.clock, request_id, lambda: self.get_status_url(url), **kw)
        return await polling.wait_for_job(self._session.clock, request_id, lambda: self.get_status(request_id), **kw)

    async def wait_for_captions(self, dataset_id: int | str, **kw: Any) -> Dataset:
        return await polling.wait_for_captions(self._session.clock, dataset_id, lambda: self.get_dataset(dataset_id), **kw)

    async def wait_for_bulk_upload(self, dataset_id: int | str, **kw: Any) -> BulkUploadStatus:
        return await polling.wait_for_bulk_upload(self._session.clock, dataset_id,
                                                  lambda: self.bulk_upload_status(dataset_id), **kw)

    async def wait_for_training(self, model_id: int | str, **kw: Any) -> Model:
        return await polling.wait_for_training(self._session.clock, model_id, lambda: self.get_model(model_id), **kw)
