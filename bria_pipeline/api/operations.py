"""The one table of API operations: method, versioned path and what each call does to the world.

Paths are relative to the API's root and carry the version the contract's per-operation `servers`
give: ``/v1`` for everything under tailored-gen and the dataset download, ``/v2`` for generation
and the status service.

Flags:
    creates     a POST that makes a new resource (or job) on the server
    bills       starts paid work (a training run, a generation)
    idempotent  sending it twice leaves the server as sending it once: retried freely
    readback    for a non-idempotent POST: the name of the finder (see readback.py) that decides,
                after an ambiguous failure, whether the server acted. Without one, an ambiguous
                failure of a creating/billing POST raises AmbiguousResult.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Operation:
    name: str  # the client method's name
    operation_id: str  # the contract's operationId
    method: str
    path: str  # versioned template, e.g. /v1/tailored-gen/datasets/{dataset_id}
    creates: bool = False
    bills: bool = False
    idempotent: bool = True
    readback: str | None = None

    @property
    def mutating(self) -> bool:
        return self.method != "GET"

    @property
    def version(self) -> str:
        return self.path.split("/")[1]

    def render(self, params: Mapping[str, object] | None = None) -> str:
        """The concrete path: each {placeholder} filled and URL-quoted."""
        values = {k: quote(str(v), safe="") for k, v in (params or {}).items()}
        try:
            return self.path.format(**values)
        except KeyError as exc:
            raise TypeError(f"{self.name}: missing path parameter {exc.args[0]!r}") from None


def _op(name: str, operation_id: str, method: str, path: str, **flags: object) -> Operation:
    if method in ("GET", "PUT", "DELETE"):
        flags.setdefault("idempotent", True)
    return Operation(name, operation_id, method, path, **flags)  # type: ignore[arg-type]


_TG = "/v1/tailored-gen"
_POST_CREATE = {"creates": True, "idempotent": False}

OPERATIONS: tuple[Operation, ...] = (
    # projects
    _op("create_project", "create-project", "POST", f"{_TG}/projects", **_POST_CREATE, readback="project_by_name"),
    _op("list_projects", "get-projects", "GET", f"{_TG}/projects"),
    _op("get_project", "get-project-by-id", "GET", f"{_TG}/projects/{{project_id}}"),
    _op("update_project", "update-project", "PUT", f"{_TG}/projects/{{project_id}}"),
    _op("delete_project", "delete-project", "DELETE", f"{_TG}/projects/{{project_id}}"),
    # datasets
    _op("create_dataset", "create-dataset", "POST", f"{_TG}/datasets", **_POST_CREATE, readback="dataset_by_name"),
    _op("list_datasets", "get-datasets", "GET", f"{_TG}/datasets"),
    _op("list_project_datasets", "get-datasets-by-project", "GET", f"{_TG}/projects/{{project_id}}/datasets"),
    _op("get_dataset", "get-dataset-by-id", "GET", f"{_TG}/datasets/{{dataset_id}}"),
    _op("update_dataset", "update-dataset", "PUT", f"{_TG}/datasets/{{dataset_id}}"),
    _op("delete_dataset", "delete-dataset", "DELETE", f"{_TG}/datasets/{{dataset_id}}"),
    _op("clone_dataset", "clone-dataset", "POST", f"{_TG}/datasets/{{dataset_id}}/clone", **_POST_CREATE, readback="clone_by_name"),
    _op("download_dataset", "download-dataset", "GET", "/v1/datasets/{dataset_id}/download"),
    # images
    _op("upload_image", "upload-image", "POST", f"{_TG}/datasets/{{dataset_id}}/images", **_POST_CREATE, readback="image_by_name"),
    _op("list_images", "get-images", "GET", f"{_TG}/datasets/{{dataset_id}}/images"),
    _op("regenerate_all_captions", "regenerate-all-captions", "PUT", f"{_TG}/datasets/{{dataset_id}}/images"),
    _op("bulk_upload", "bulk-upload-images", "POST", f"{_TG}/datasets/{{dataset_id}}/images/bulk-upload", **_POST_CREATE, readback="bulk_upload_started"),
    _op("bulk_upload_status", "get-bulk-upload-status", "GET", f"{_TG}/datasets/{{dataset_id}}/images/bulk-upload/status"),
    _op("get_image", "get-image", "GET", f"{_TG}/datasets/{{dataset_id}}/images/{{image_id}}"),
    _op("update_image_caption", "update-image-caption", "PUT", f"{_TG}/datasets/{{dataset_id}}/images/{{image_id}}"),
    _op("delete_image", "delete-image", "DELETE", f"{_TG}/datasets/{{dataset_id}}/images/{{image_id}}"),
    # structured data: POSTs that change nothing on the server, so repeating them is harmless
    _op("generate_visual_schema", "generate-visual-schema", "POST", f"{_TG}/generate_visual_schema", idempotent=True),
    _op("refine_structured_prompt", "refine-json", "POST", f"{_TG}/refine_structured_prompt", idempotent=True),
    # models
    _op("create_model", "create-model", "POST", f"{_TG}/models", **_POST_CREATE, readback="model_by_name"),
    _op("list_models", "get-models", "GET", f"{_TG}/models"),
    _op("list_project_models", "get-models-by-project", "GET", f"{_TG}/projects/{{project_id}}/models"),
    _op("get_model", "get-model", "GET", f"{_TG}/models/{{model_id}}"),
    _op("update_model", "update-model", "PUT", f"{_TG}/models/{{model_id}}"),
    _op("delete_model", "delete-model", "DELETE", f"{_TG}/models/{{model_id}}"),
    _op("start_training", "start-training", "POST", f"{_TG}/models/{{model_id}}/start_training", bills=True, idempotent=False, readback="training_started"),
    _op("stop_training", "stop-training", "POST", f"{_TG}/models/{{model_id}}/stop_training", idempotent=False, readback="training_stopped"),
    _op("list_checkpoints", "list-checkpoints", "GET", f"{_TG}/models/{{model_id}}/checkpoints"),
    _op("get_checkpoint", "get-checkpoint", "GET", f"{_TG}/models/{{model_id}}/checkpoints/{{checkpoint_step}}"),
    _op("delete_checkpoint", "delete-checkpoint", "DELETE", f"{_TG}/models/{{model_id}}/checkpoints/{{checkpoint_step}}"),
    _op("download_model", "download-tailored-model", "GET", f"{_TG}/models/{{model_id}}/download"),
    # in the contract file but outside its `paths` map (a top-level key): served by Bria all the same
    _op("upload_model", "upload-model", "POST", f"{_TG}/models/upload_model", **_POST_CREATE, readback="uploaded_model_by_name"),
    # generation (v2): billed, and nothing lists them afterwards, so no read-back exists
    _op("generate_image", "image-generate-tailored", "POST", "/v2/image/generate/tailored", creates=True, bills=True, idempotent=False),
    _op("generate_structured_prompt", "structured-prompt-generate-tailored", "POST", "/v2/structured_prompt/generate/tailored", creates=True, bills=True, idempotent=False),
    _op("generate_video", "generate-video-from-tailored-image", "POST", "/v2/video/generate/tailored/image-to-video", creates=True, bills=True, idempotent=False),
    # status service (v2)
    _op("get_status", "get_status", "GET", "/v2/status/{request_id}"),
)

# A URL the server handed out (image, video, status_url, download): not a contract operation, but
# counted and paced like one when it points at the API's host.
FETCH_URL = Operation("fetch_url", "fetch-url", "GET", "{url}")

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
BY_OPERATION_ID: dict[str, Operation] = {op.operation_id: op for op in OPERATIONS}


def operation(name: str) -> Operation:
    return BY_NAME[name]
