"""The client the executor's steps call: a Protocol, so any object with these methods will do
(AsyncBriaClient is the one; tests hand in others). Signatures are the client's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..api.client import TRAINING_VERSION, ImageInput
from ..api.stats import RequestStats
from ..api.types import (
    AsyncJob,
    Dataset,
    GenerationResult,
    Image,
    JobStatus,
    Model,
    Project,
    TrainingParameters,
)


@runtime_checkable
class GenerationClient(Protocol):
    """What generation steps call: generate, poll, download."""

    async def fetch_bytes(self, url: str) -> bytes: ...
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
    ) -> GenerationResult | AsyncJob: ...
    async def generate_structured_prompt(
        self,
        tailored_model_id: int | str,
        *,
        prompt: str | None = None,
        structured_prompt: str | None = None,
        seed: int | None = None,
        sync: bool = False,
        prompt_content_moderation: bool | None = None,
    ) -> GenerationResult | AsyncJob: ...
    async def generate_video(
        self, tailored_model_id: int | str, image: ImageInput, *, seed: int | None = None
    ) -> GenerationResult | AsyncJob: ...
    async def get_status(self, request_id: str) -> JobStatus: ...
    async def wait_for_job(self, job: AsyncJob | str, **kw: Any) -> GenerationResult: ...


@runtime_checkable
class StepClient(GenerationClient, Protocol):
    """What every step of an apply calls, and the request counts the apply reports."""

    @property
    def stats(self) -> RequestStats: ...

    async def clone_dataset(
        self, dataset_id: int | str, *, name: str | None = None, description: str | None = None
    ) -> Dataset: ...
    async def create_dataset(self, project_id: int, name: str, *, upload_type: str | None = None,
                             training_version: str | None = TRAINING_VERSION) -> Dataset: ...
    async def create_model(
        self,
        name: str,
        dataset_id: int,
        *,
        training_mode: str | None = None,
        description: str | None = None,
        training_version: str | None = TRAINING_VERSION,
    ) -> Model: ...
    async def create_project(
        self,
        project_name: str,
        *,
        ip_medium: str,
        ip_type: str,
        project_description: str | None = None,
        ip_name: str | None = None,
        ip_description: str | None = None,
    ) -> Project: ...
    async def delete_dataset(self, dataset_id: int | str) -> None: ...
    async def delete_image(self, dataset_id: int | str, image_id: int | str) -> None: ...
    async def delete_model(self, model_id: int | str) -> None: ...
    async def delete_project(self, project_id: int | str) -> None: ...
    async def generate_visual_schema(
        self, images: Sequence[ImageInput], *, content_moderation: bool | None = None
    ) -> str: ...
    async def get_dataset(self, dataset_id: int | str, *, max_images: int | None = None) -> Dataset: ...
    async def get_model(self, model_id: int | str) -> Model: ...
    async def list_images(self, dataset_id: int | str) -> list[Image]: ...
    async def list_project_datasets(
        self, project_id: int | str, *, include_models: bool = False, include_models_ids: bool = False
    ) -> list[Dataset]: ...
    async def list_project_models(
        self, project_id: int | str, *, include_training_parameters: bool = False
    ) -> list[Model]: ...
    async def list_projects(self) -> list[Project]: ...
    async def refine_structured_prompt(
        self,
        dataset_id: int,
        structured_prompt: str,
        instruction: str,
        *,
        context_images: Sequence[ImageInput] | None = None,
    ) -> str: ...
    async def regenerate_all_captions(self, dataset_id: int | str) -> Dataset: ...
    async def start_training(
        self,
        model_id: int | str,
        parameters: TrainingParameters | Mapping[str, Any] | None = None,
    ) -> Model: ...
    async def stop_training(self, model_id: int | str) -> Model | None: ...
    async def update_dataset(
        self,
        dataset_id: int | str,
        *,
        name: str | None = None,
        visual_schema: str | None = None,
        status: str | None = None,
    ) -> Dataset: ...
    async def update_image_caption(
        self,
        dataset_id: int | str,
        image_id: int | str,
        *,
        caption: str | None = None,
        regenerate_caption: bool = False,
    ) -> Image: ...
    async def update_model(
        self, model_id: int | str, *, name: str | None = None, description: str | None = None
    ) -> Model: ...
    async def update_project(
        self,
        project_id: int | str,
        *,
        project_name: str | None = None,
        project_description: str | None = None,
        ip_name: str | None = None,
        ip_description: str | None = None,
    ) -> Project: ...
    async def upload_image(
        self,
        dataset_id: int | str,
        *,
        file: bytes | Path | str | None = None,
        image_url: str | None = None,
        image_name: str | None = None,
        increase_resolution: bool | None = None,
        content_moderation: bool | None = None,
    ) -> Image: ...
    async def wait_for_captions(self, dataset_id: int | str, **kw: Any) -> Dataset: ...
    async def wait_for_training(self, model_id: int | str, **kw: Any) -> Model: ...
