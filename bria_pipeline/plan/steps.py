"""Typed steps: what the executor carries out, one frozen dataclass per operation.

A plan's `Action` says where and why (address, kind, reason, dependencies); its `step` says what
exactly. The executor dispatches on the step's type; the plan file writes it with its `type` tag
(schemas/plan.schema.json) and `step_from_dict` reads it back.

Project steps (made by plan/planner.py, carried out by apply/project_steps.py):

    CreateProject      create the project (found again by name, never made twice)
    UpdateProject      change its name, description, ip_name or ip_description in place
    ReplaceProject     a new project (ip_type or ip_medium changed); the old one renamed or deleted
    DeleteProject      delete it

Dataset steps (made by plan/datasets.py, dataset_images.py, dataset_captions.py and prune.py,
carried out by apply/dataset_steps.py and apply/caption_steps.py):

    CreateDataset      CloneDataset      RenameDataset      DeleteDataset      CompleteDataset
    VisualSchema       generate (from samples) and refine it, or set the spec's or the lock's, or pin the remote one
    UploadImage        DeleteImage       MovedImage (a noop: renamed on disk, same content)
    BulkUpload         one zip of the dataset's images (wait: a bulk upload in progress)
    Captions           regenerate every caption (or wait for them)
    Caption            one image's caption: manual, refined, regenerated, or the remote one pinned

Model steps (made by plan/models.py and plan/prune.py, carried out by apply/model_steps.py):

    CreateModel        a model on a dataset (found again by name, never made twice)
    UpdateModel        rename it, or change its description, in place
    StartTraining      start its training (billed), then wait for it
    WaitTraining       wait for a training in progress
    DeleteModel        delete it (a training in progress is stopped first)

Generation steps (made by plan/generation_steps.py, carried out by apply/output_steps.py):

    GenerateImage      an image: request it, or (request_id set) poll the request recorded earlier
    GenerateVideo      a video from a generated image: the same
    StructuredPrompt   generate (and refine) a structured prompt, or pin one made earlier
    RestoreOutput      a kept file takes its output's name back (no request)
    DeleteOutput       --prune: delete a local output and forget it (no request)
    GenerationSummary  the outputs the spec asks for (noop: marks the manifest current)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..training_params import TrainingParams


@dataclass(frozen=True)
class OutputFields:
    """The request an output is made from, as its manifest record keeps it."""

    kind: Literal["image", "video"]
    name: str  # its file name without extension (output_names)
    set_name: str
    model: str  # the spec's model key
    model_name: str  # the model's remote name
    model_id: str | None  # None until the model is trained
    model_version: Any = None
    order: int = 0
    variables: dict[str, Any] | None = None
    prompt: str | None = None
    params: dict[str, Any] | None = None
    seed: int | None = None
    structured_prompt_hash: str | None = None
    source: str | None = None  # a video's source image key
    spec: str | None = None  # the spec's file name

    def record(self) -> dict[str, Any]:
        """The fields as the manifest's record_pending takes them."""
        own = ("seed", "source") if self.kind == "video" else ("variables", "prompt", "params", "seed",
                                                                  "structured_prompt_hash")
        names = ("kind", "name", "set_name", "model", "model_name", "model_id", "model_version", "order", *own)
        out = {name: getattr(self, name) for name in names}
        if self.spec:
            out["spec"] = self.spec
        return out


@dataclass(frozen=True)
class Superseded:
    """An output a new one replaces: its file moves to `move_to`, or (None, --prune) is deleted."""

    key: str
    file: str | None
    move_to: str | None


@dataclass(frozen=True)
class Step:
    TAG: ClassVar[str] = ""


@dataclass(frozen=True)
class _Output(Step):
    key: str
    output: OutputFields | None  # None: a retired output's request, collected (kept, not asked for again)
    request_id: str | None = None  # a request recorded earlier: poll it, pay nothing again
    superseded: tuple[Superseded, ...] = ()
    may_pay_again: bool = False  # an earlier request's answer was lost: this one may pay twice
    retired: bool = False  # no longer in the spec: its file is kept under a name of its own

    @property
    def kind(self) -> str:
        return self.TAG


@dataclass(frozen=True)
class GenerateImage(_Output):
    TAG: ClassVar[str] = "image"


@dataclass(frozen=True)
class GenerateVideo(_Output):
    TAG: ClassVar[str] = "video"


@dataclass(frozen=True)
class StructuredPrompt(Step):
    TAG: ClassVar[str] = "structured_prompt"
    inputs_hash: str
    set_name: str
    prompt: str
    model: str
    model_id: str | None = None
    refine: str | None = None
    seed: int | None = None
    text: str | None = None  # made earlier (in the manifest): only the pin is missing
    request_id: str | None = None  # a request recorded earlier: poll it
    stage: str | None = None
    draft: str | None = None


@dataclass(frozen=True)
class RestoreOutput(Step):
    TAG: ClassVar[str] = "restore"
    key: str
    file: str
    to: str
    output: OutputFields | None = None
    superseded: tuple[Superseded, ...] = ()


@dataclass(frozen=True)
class DeleteOutput(Step):
    TAG: ClassVar[str] = "delete"
    key: str
    file: str | None
    spec: str | None = None


@dataclass(frozen=True)
class GenerationSummary(Step):
    TAG: ClassVar[str] = "summary"
    desired: tuple[str, ...] = ()
    up_to_date: int = 0
    kept: int = 0
    spec: str = ""
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateProject(Step):
    TAG: ClassVar[str] = "create_project"
    body: dict[str, Any]  # create_project's arguments: project_name, ip_type, ip_medium, ...

    @property
    def name(self) -> str:
        return str(self.body["project_name"])


@dataclass(frozen=True)
class UpdateProject(Step):
    TAG: ClassVar[str] = "update_project"
    changes: dict[str, Any]  # attribute -> new value, as update_project takes them


@dataclass(frozen=True)
class ReplaceProject(CreateProject):
    TAG: ClassVar[str] = "replace_project"
    old_id: int = 0
    old: Literal["delete", "rename"] = "rename"  # the old project's fate
    rename_to: str = ""


@dataclass(frozen=True)
class DeleteProject(Step):
    TAG: ClassVar[str] = "delete_project"
    project_id: int


PROJECT_STEPS = (CreateProject, UpdateProject, ReplaceProject, DeleteProject)


@dataclass(frozen=True)
class CreateDataset(Step):
    TAG: ClassVar[str] = "create_dataset"
    dataset: str  # the spec's key
    name: str  # its remote name
    upload_type: str | None = None


@dataclass(frozen=True)
class CloneDataset(Step):
    TAG: ClassVar[str] = "clone_dataset"
    dataset: str
    name: str
    source_id: int
    source_name: str


@dataclass(frozen=True)
class RenameDataset(Step):
    TAG: ClassVar[str] = "rename_dataset"
    dataset: str
    name: str


@dataclass(frozen=True)
class DeleteDataset(Step):
    TAG: ClassVar[str] = "delete_dataset"
    dataset: str  # the spec key that owns it
    dataset_id: int
    name: str


@dataclass(frozen=True)
class CompleteDataset(Step):
    TAG: ClassVar[str] = "complete_dataset"
    dataset: str


@dataclass(frozen=True)
class VisualSchema(Step):
    TAG: ClassVar[str] = "visual_schema"
    dataset: str
    source: Literal["generate", "refine", "text", "lock", "remote"]  # where its text comes from
    put: bool = True  # set it on the dataset (False: only pin the remote one)
    refines: int = 0  # refinement requests


@dataclass(frozen=True)
class UploadImage(Step):
    TAG: ClassVar[str] = "upload_image"
    dataset: str
    key: str  # the image's key in the spec
    image_name: str  # its remote name


@dataclass(frozen=True)
class DeleteImage(Step):
    TAG: ClassVar[str] = "delete_image"
    dataset: str
    image_name: str
    image_id: int | None = None  # None: not known yet (a clone's), found by name and `copy`
    copy: int = 0  # which of the images of that name


@dataclass(frozen=True)
class MovedImage(Step):
    TAG: ClassVar[str] = "moved"
    dataset: str
    key: str
    image_name: str  # the name it was uploaded with


@dataclass(frozen=True)
class BulkUpload(Step):
    TAG: ClassVar[str] = "bulk_upload"
    dataset: str
    zip_url: str | None = None  # None: a zip built and staged at apply time


@dataclass(frozen=True)
class WaitBulk(Step):
    TAG: ClassVar[str] = "wait_bulk"
    dataset: str


@dataclass(frozen=True)
class Captions(Step):
    TAG: ClassVar[str] = "captions"
    dataset: str
    regenerate: bool = False  # False: only wait for the captions in progress


@dataclass(frozen=True)
class Caption(Step):
    TAG: ClassVar[str] = "caption"
    dataset: str
    key: str  # the image's key in the spec
    mode: Literal["manual", "refine", "regenerate", "remote"]
    put: bool = True
    refines: int = 0
    pin: str | None = None  # the lock file key its refined text is pinned under


DATASET_STEPS = (CreateDataset, CloneDataset, RenameDataset, DeleteDataset, CompleteDataset, VisualSchema,
                 UploadImage, DeleteImage, MovedImage, BulkUpload, WaitBulk, Captions, Caption)


@dataclass(frozen=True)
class CreateModel(Step):
    TAG: ClassVar[str] = "create_model"
    model: str  # the spec's key
    name: str  # its remote name
    dataset: str  # the spec's dataset key
    training_mode: str
    description: str | None = None


@dataclass(frozen=True)
class UpdateModel(Step):
    TAG: ClassVar[str] = "update_model"
    model: str
    changes: dict[str, Any]  # attribute -> new value, as update_model takes them (name, description)


@dataclass(frozen=True)
class StartTraining(Step):
    TAG: ClassVar[str] = "start_training"
    model: str
    params: TrainingParams  # what start_training sends (the service's defaults where None)


@dataclass(frozen=True)
class WaitTraining(Step):
    TAG: ClassVar[str] = "wait_training"
    model: str


@dataclass(frozen=True)
class DeleteModel(Step):
    TAG: ClassVar[str] = "delete_model"
    model: str  # the spec key that owns it
    model_id: int
    name: str
    stop_first: bool = False  # its training is in progress: stop it first


MODEL_STEPS = (CreateModel, UpdateModel, StartTraining, WaitTraining, DeleteModel)
GENERATION_STEPS = (GenerateImage, GenerateVideo, StructuredPrompt, RestoreOutput, DeleteOutput)
STEP_TYPES: dict[str, type[Step]] = {cls.TAG: cls for cls in (*PROJECT_STEPS, *DATASET_STEPS, *MODEL_STEPS, *GENERATION_STEPS, GenerationSummary)}


def _plain(value: Any) -> Any:
    """JSON's own types: tuples become lists (as json.dumps would write them)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def step_to_dict(step: Step) -> dict[str, Any]:
    return {"type": step.TAG, **_plain(dataclasses.asdict(step))}


def step_from_dict(data: dict[str, Any]) -> Step:
    """The step a plan file wrote; raises KeyError, TypeError or ValueError when it is not one."""
    cls = STEP_TYPES[data["type"]]
    values = {k: v for k, v in data.items() if k != "type"}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"a {data['type']} step has no field {sorted(unknown)[0]!r}")
    if isinstance(values.get("params"), dict):
        values["params"] = TrainingParams(**values["params"])
    if values.get("output") is not None:
        values["output"] = OutputFields(**values["output"])
    if "superseded" in values:
        values["superseded"] = tuple(Superseded(**s) for s in values["superseded"])
    for name in ("desired", "models"):
        if name in values:
            values[name] = tuple(values[name])
    return cls(**values)
