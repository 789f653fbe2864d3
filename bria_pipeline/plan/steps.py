"""Typed steps: what the executor carries out, one frozen dataclass per operation.

A plan's `Action` says where and why (address, kind, reason, dependencies); its `step` says what
exactly. Everything the plan knows of a step type is declared on its class, in one place:

    TAG          its name in the plan file (schemas/plan.schema.json); declaring it registers the type
    CONCURRENCY  "request": it sends work and takes one of the --concurrency slots;
                 "wait": it waits on the service (a training, captions) and takes none
    WAITS_ON     what a "still running" outcome of it waits for ("training", "generation request")
    GENERATION   counted in the generation report and its progress bar
    READS_FILES  reads its dataset's local files (hashed again from disk before apply sends anything)
    REQUESTS     the requests it sends (status polls not counted), when that is all it costs
    cost()       what carrying it out costs, billed work included (plan/cost.py adds them up)
    files_read() the output files it reads or moves (fetched from a backend before apply runs it)
    names_model()  the model key and remote name it gives a model, if it names one (CreateModel, UpdateModel)

The apply layer binds a handler to each type (apply/handlers.py, `@handles(StepType)`); a step type
without one is refused when apply is imported. docs-drafts/steps.md shows a new type end to end.

Project steps (made by plan/planner.py, carried out by apply/project_steps.py):

    CreateProject      create the project (found again by name, never made twice)
    UpdateProject      change its name, description, ip_name or ip_description in place
    ReplaceProject     a new project (ip_type or ip_medium changed); the old one renamed or deleted
    DeleteProject      delete it

Dataset steps (made by plan/datasets.py, dataset_images.py, dataset_captions.py and prune.py,
carried out by apply/dataset_steps.py and apply/caption_steps.py):

    CreateDataset      CloneDataset      RenameDataset      DeleteDataset      CompleteDataset
    VisualSchema       generate (from samples) and refine it, or set the spec's or the lock's
    UploadImage        DeleteImage       MovedImage (a noop: renamed on disk, same content)
    BulkUpload         one zip of the dataset's images (wait: a bulk upload in progress)
    PinVisualSchema    pin the dataset's remote visual schema in the lock file (no request)
    RegenerateCaptions regenerate every caption, then wait for them
    WaitCaptions       wait for the captions in progress
    Caption            one image's caption: manual, refined or regenerated
    PinCaption         pin an image's remote (refined) caption in the lock file (no request)

Model steps (made by plan/models.py and plan/prune.py, carried out by apply/model_steps.py):

    CreateModel        a model on a dataset (found again by name, never made twice)
    UpdateModel        rename it, or change its description, in place
    StartTraining      start its training (billed), then wait for it
    WaitTraining       wait for a training in progress
    DeleteModel        delete it (a training in progress is stopped first)

Generation steps (made by plan/generation_steps.py, carried out by apply/output_steps.py):

    GenerateImage      request an image
    GenerateVideo      request a video from a generated image
    PollImage          poll an image request recorded earlier (pay nothing again)
    PollVideo          the same for a video
    StructuredPrompt   generate (and refine) a structured prompt, then pin it
    PollStructuredPrompt  poll a structured-prompt request recorded earlier, then pin it
    PinStructuredPrompt   pin a structured prompt made earlier (kept in the manifest; no request)
    RestoreOutput      a kept file takes its output's name back (no request)
    DeleteOutput       --prune: delete a local output and forget it (no request)
    GenerationSummary  the outputs the spec asks for (noop: marks the manifest current)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..training_params import TrainingParams
from .cost import Cost

Concurrency = Literal["request", "wait"]
SchemaSource = Literal["generate", "refine", "text", "lock"]

# Every step type by its tag, filled as the classes are defined (Step.__init_subclass__).
STEP_TYPES: dict[str, type[Step]] = {}


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
    """A step type: a frozen dataclass whose fields are its arguments (see the module's docstring)."""

    TAG: ClassVar[str] = ""
    CONCURRENCY: ClassVar[Concurrency] = "request"
    WAITS_ON: ClassVar[str] = ""
    GENERATION: ClassVar[bool] = False
    CARRIED_OUT: ClassVar[bool] = True  # False: only shown (a noop), so no handler
    REQUESTS: ClassVar[int] = 0  # the requests it sends, status polls not counted (see cost())
    READS_FILES: ClassVar[bool] = False  # reads its `dataset`'s local files: they are hashed again before apply

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        tag = cls.__dict__.get("TAG")
        if not tag:
            return  # a base class of steps, not a step type
        known = STEP_TYPES.get(tag)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(f"step type {cls.__qualname__} takes the tag {tag!r} of {known.__qualname__}")
        STEP_TYPES[tag] = cls

    def cost(self) -> Cost:
        """What carrying this step out costs: REQUESTS requests, nothing billed, unless the type says
        otherwise."""
        return Cost(requests=self.REQUESTS)

    def files_read(self, file_of: FileOf) -> tuple[str, ...]:
        """The output files this step reads or moves (a video's source image, a file kept aside or
        taking its name back); `file_of(key)`: an output's file, as the manifest records it. None
        unless the type says otherwise."""
        return ()

    def names_model(self) -> tuple[str, str] | None:
        """(the spec's model key, the remote name it gives that model), for a step that names one."""
        return None


FileOf = Callable[[str], "str | None"]  # an output's file by its key (None: no file recorded)


def _output_files(file: str | None, output: OutputFields | None, superseded: tuple[Superseded, ...],
                  file_of: FileOf) -> tuple[str, ...]:
    """The files an output step reads or moves: those it supersedes, its own `file`, its source's."""
    source = file_of(output.source) if output is not None and output.source else None
    return tuple(f for f in (*(old.file for old in superseded), file, source) if f)


@dataclass(frozen=True)
class _Output(Step):
    """An image or a video of the spec (or a retired one still owed)."""

    GENERATION: ClassVar[bool] = True
    WAITS_ON: ClassVar[str] = "generation request"
    MEDIA: ClassVar[Literal["image", "video"]] = "image"
    key: str
    output: OutputFields | None  # None: a retired output's request, collected (kept, not asked for again)
    superseded: tuple[Superseded, ...] = ()
    may_pay_again: bool = False  # an earlier request's answer was lost: this one may pay twice
    retired: bool = False  # no longer in the spec: its file is kept under a name of its own

    @property
    def kind(self) -> str:
        return self.MEDIA

    def files_read(self, file_of: FileOf) -> tuple[str, ...]:
        return _output_files(None, self.output, self.superseded, file_of)


@dataclass(frozen=True)
class GenerateImage(_Output):
    TAG: ClassVar[str] = "image"

    def cost(self) -> Cost:
        return Cost(image_generations=1, requests=1)


@dataclass(frozen=True)
class GenerateVideo(_Output):
    TAG: ClassVar[str] = "video"
    MEDIA: ClassVar[Literal["image", "video"]] = "video"

    def cost(self) -> Cost:
        return Cost(videos=1, requests=1)


@dataclass(frozen=True)
class PollImage(_Output):
    """An image request recorded earlier (`request_id`): poll it; if the service lost it, request
    it once more (`output`), paid again and recorded so."""

    TAG: ClassVar[str] = "poll_image"
    request_id: str = ""  # the request recorded earlier: poll it, pay nothing again


@dataclass(frozen=True)
class PollVideo(PollImage):
    TAG: ClassVar[str] = "poll_video"
    MEDIA: ClassVar[Literal["image", "video"]] = "video"


@dataclass(frozen=True)
class _StructuredPrompt(Step):
    GENERATION: ClassVar[bool] = True
    WAITS_ON: ClassVar[str] = "generation request"
    inputs_hash: str
    set_name: str
    prompt: str
    model: str
    model_id: str | None = None
    refine: str | None = None
    seed: int | None = None

    @property
    def calls(self) -> int:
        return 2 if self.refine else 1


@dataclass(frozen=True)
class StructuredPrompt(_StructuredPrompt):
    TAG: ClassVar[str] = "structured_prompt"

    def cost(self) -> Cost:
        return Cost(structured_prompts=self.calls, requests=self.calls)


@dataclass(frozen=True)
class PollStructuredPrompt(_StructuredPrompt):
    """A request recorded earlier: poll it (and refine, when only the first call was made), then pin."""

    TAG: ClassVar[str] = "poll_structured_prompt"
    request_id: str = ""
    stage: str | None = None
    draft: str | None = None


@dataclass(frozen=True)
class PinStructuredPrompt(_StructuredPrompt):
    """Made earlier (kept in the manifest): only the pin in the lock file is missing."""

    TAG: ClassVar[str] = "pin_structured_prompt"
    text: str = ""


@dataclass(frozen=True)
class RestoreOutput(Step):
    TAG: ClassVar[str] = "restore"
    GENERATION: ClassVar[bool] = True
    key: str
    file: str
    to: str
    output: OutputFields | None = None
    superseded: tuple[Superseded, ...] = ()

    def files_read(self, file_of: FileOf) -> tuple[str, ...]:
        return _output_files(self.file, self.output, self.superseded, file_of)


@dataclass(frozen=True)
class DeleteOutput(Step):
    TAG: ClassVar[str] = "delete"
    GENERATION: ClassVar[bool] = True
    key: str
    file: str | None
    spec: str | None = None

    def files_read(self, file_of: FileOf) -> tuple[str, ...]:
        return (self.file,) if self.file else ()


@dataclass(frozen=True)
class GenerationSummary(Step):
    """Shown, never carried out (a noop): the executor marks the manifest current with it."""

    TAG: ClassVar[str] = "summary"
    GENERATION: ClassVar[bool] = True  # the plan has a generation part: the executor opens the manifest
    CARRIED_OUT: ClassVar[bool] = False
    desired: tuple[str, ...] = ()
    up_to_date: int = 0
    kept: int = 0
    spec: str = ""
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateProject(Step):
    TAG: ClassVar[str] = "create_project"
    REQUESTS: ClassVar[int] = 1
    body: dict[str, Any]  # create_project's arguments: project_name, ip_type, ip_medium, ...

    @property
    def name(self) -> str:
        return str(self.body["project_name"])


@dataclass(frozen=True)
class UpdateProject(Step):
    TAG: ClassVar[str] = "update_project"
    REQUESTS: ClassVar[int] = 1
    changes: dict[str, Any]  # attribute -> new value, as update_project takes them


@dataclass(frozen=True)
class ReplaceProject(CreateProject):
    TAG: ClassVar[str] = "replace_project"
    REQUESTS: ClassVar[int] = 2  # create the new project, rename or delete the old one
    old_id: int = 0
    old: Literal["delete", "rename"] = "rename"  # the old project's fate
    rename_to: str = ""


@dataclass(frozen=True)
class DeleteProject(Step):
    TAG: ClassVar[str] = "delete_project"
    REQUESTS: ClassVar[int] = 1
    project_id: int


@dataclass(frozen=True)
class CreateDataset(Step):
    TAG: ClassVar[str] = "create_dataset"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    dataset: str  # the spec's key
    name: str  # its remote name
    upload_type: str | None = None


@dataclass(frozen=True)
class CloneDataset(Step):
    TAG: ClassVar[str] = "clone_dataset"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    dataset: str
    name: str
    source_id: int
    source_name: str


@dataclass(frozen=True)
class RenameDataset(Step):
    TAG: ClassVar[str] = "rename_dataset"
    REQUESTS: ClassVar[int] = 1
    dataset: str
    name: str


@dataclass(frozen=True)
class DeleteDataset(Step):
    TAG: ClassVar[str] = "delete_dataset"
    REQUESTS: ClassVar[int] = 1
    dataset: str  # the spec key that owns it
    dataset_id: int
    name: str


@dataclass(frozen=True)
class CompleteDataset(Step):
    TAG: ClassVar[str] = "complete_dataset"
    REQUESTS: ClassVar[int] = 1
    dataset: str


@dataclass(frozen=True)
class VisualSchema(Step):
    TAG: ClassVar[str] = "visual_schema"
    READS_FILES: ClassVar[bool] = True
    dataset: str
    source: SchemaSource  # where its text comes from
    put: bool = True  # set it on the dataset (False: it holds that text already)
    refines: int = 0  # refinement requests

    def cost(self) -> Cost:
        generate = 1 if self.source == "generate" else 0
        refines = self.refines if self.source in ("generate", "refine") else 0
        put = 1 if self.put else 0
        return Cost(visual_schemas=generate, refines=refines, requests=generate + refines + put)


@dataclass(frozen=True)
class PinVisualSchema(Step):
    """Pin the dataset's remote visual schema in the lock file (made from these inputs; no request)."""

    TAG: ClassVar[str] = "pin_visual_schema"
    READS_FILES: ClassVar[bool] = True  # its pin is keyed by the schema inputs, samples' hashes included
    dataset: str


@dataclass(frozen=True)
class UploadImage(Step):
    TAG: ClassVar[str] = "upload_image"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    dataset: str
    key: str  # the image's key in the spec
    image_name: str  # its remote name


@dataclass(frozen=True)
class DeleteImage(Step):
    TAG: ClassVar[str] = "delete_image"
    REQUESTS: ClassVar[int] = 1
    dataset: str
    image_name: str
    image_id: int | None = None  # None: not known yet (a clone's), found by name and `copy`
    copy: int = 0  # which of the images of that name


@dataclass(frozen=True)
class MovedImage(Step):
    TAG: ClassVar[str] = "moved"
    CARRIED_OUT: ClassVar[bool] = False
    dataset: str
    key: str
    image_name: str  # the name it was uploaded with


@dataclass(frozen=True)
class BulkUpload(Step):
    TAG: ClassVar[str] = "bulk_upload"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "bulk upload"
    dataset: str
    zip_url: str | None = None  # None: a zip built and staged at apply time


@dataclass(frozen=True)
class WaitBulk(Step):
    TAG: ClassVar[str] = "wait_bulk"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "bulk upload"
    dataset: str


@dataclass(frozen=True)
class WaitCaptions(Step):
    """Wait for the automatic captions in progress."""

    TAG: ClassVar[str] = "wait_captions"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "captions"
    dataset: str


@dataclass(frozen=True)
class RegenerateCaptions(WaitCaptions):
    """Regenerate every caption of the dataset, then wait for them."""

    TAG: ClassVar[str] = "regenerate_captions"
    REQUESTS: ClassVar[int] = 1


@dataclass(frozen=True)
class Caption(Step):
    TAG: ClassVar[str] = "caption"
    dataset: str
    key: str  # the image's key in the spec
    mode: Literal["manual", "refine", "regenerate"]
    put: bool = True
    refines: int = 0
    pin: str | None = None  # the lock file key its refined text is pinned under

    def cost(self) -> Cost:
        if self.mode == "refine":
            n = self.refines or 1
            return Cost(refines=n, requests=n + 1)
        return Cost(requests=1)


@dataclass(frozen=True)
class PinCaption(Step):
    """Pin an image's remote (refined) caption in the lock file (no request)."""

    TAG: ClassVar[str] = "pin_caption"
    dataset: str
    key: str  # the image's key in the spec


@dataclass(frozen=True)
class CreateModel(Step):
    TAG: ClassVar[str] = "create_model"
    REQUESTS: ClassVar[int] = 1
    model: str  # the spec's key
    name: str  # its remote name
    dataset: str  # the spec's dataset key
    training_mode: str
    description: str | None = None

    def names_model(self) -> tuple[str, str] | None:
        return self.model, self.name


@dataclass(frozen=True)
class UpdateModel(Step):
    TAG: ClassVar[str] = "update_model"
    REQUESTS: ClassVar[int] = 1
    model: str
    changes: dict[str, Any]  # attribute -> new value, as update_model takes them (name, description)

    def names_model(self) -> tuple[str, str] | None:
        return (self.model, self.changes["name"]) if "name" in self.changes else None


@dataclass(frozen=True)
class StartTraining(Step):
    TAG: ClassVar[str] = "start_training"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "training"
    model: str
    params: TrainingParams  # what start_training sends (the service's defaults where None)

    def cost(self) -> Cost:
        return Cost(trainings=1, requests=1)


@dataclass(frozen=True)
class WaitTraining(Step):
    TAG: ClassVar[str] = "wait_training"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "training"
    model: str


@dataclass(frozen=True)
class DeleteModel(Step):
    TAG: ClassVar[str] = "delete_model"
    REQUESTS: ClassVar[int] = 1
    CONCURRENCY: ClassVar[Concurrency] = "wait"  # a training in progress is stopped first, and waited for
    model: str  # the spec key that owns it
    model_id: int
    name: str
    stop_first: bool = False  # its training is in progress: stop it first


GENERATION_STEPS = tuple(cls for cls in STEP_TYPES.values() if cls.GENERATION)


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
