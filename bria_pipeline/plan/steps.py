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
    fields       its arguments, written to the plan file under their names; with the docstring's first
                 paragraph, they make its JSON Schema (plan/step_schema.py), which tools/plan_schema.py
                 writes into schemas/plan.schema.json
    FIELD_SCHEMA what a field's schema says beyond its type hint (the keys a dict must hold)

The apply layer binds a handler to each type (apply/handlers.py, `@handles(StepType)`); a step type
without one is refused when apply is imported. docs-drafts/steps.md shows a new type end to end.

Every step type, with what it does, is listed in the plan JSON reference (docs/reference/plan-json.md,
"Step types"), generated from the schema; the classes below come grouped by what they act on:
generated outputs, the project, datasets, then models.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from ..training_params import TrainingParams
from .cost import Cost

Concurrency = Literal["request", "wait"]
SchemaSource = Literal["generate", "refine", "text", "lock"]
_T = TypeVar("_T")

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
    FIELD_SCHEMA: ClassVar[dict[str, dict[str, Any]]] = {}  # by field: what its schema says beyond its type hint

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
    """Request an image."""

    TAG: ClassVar[str] = "image"

    def cost(self) -> Cost:
        return Cost(image_generations=1, requests=1)


@dataclass(frozen=True)
class GenerateVideo(_Output):
    """Request a video from a generated image."""

    TAG: ClassVar[str] = "video"
    MEDIA: ClassVar[Literal["image", "video"]] = "video"

    def cost(self) -> Cost:
        return Cost(videos=1, requests=1)


@dataclass(frozen=True)
class PollImage(_Output):
    """Poll the image request recorded earlier (`request_id`: pay nothing again); if the service lost
    it, request it once more (`output`), paid again and recorded so."""

    TAG: ClassVar[str] = "poll_image"
    request_id: str = field(kw_only=True)  # the request recorded earlier: poll it, pay nothing again


@dataclass(frozen=True)
class PollVideo(PollImage):
    """Poll the video request recorded earlier (pay nothing again); if the service lost it, request
    it once more."""

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
    """Generate (and refine) a structured prompt, then pin it in the lock file."""

    TAG: ClassVar[str] = "structured_prompt"

    def cost(self) -> Cost:
        return Cost(structured_prompts=self.calls, requests=self.calls)


@dataclass(frozen=True)
class PollStructuredPrompt(_StructuredPrompt):
    """Poll the structured-prompt request recorded earlier (and refine, when only the first call was
    made), then pin it."""

    TAG: ClassVar[str] = "poll_structured_prompt"
    request_id: str = field(kw_only=True)
    stage: str | None = None
    draft: str | None = None


@dataclass(frozen=True)
class PinStructuredPrompt(_StructuredPrompt):
    """Pin a structured prompt made earlier (kept in the output manifest) in the lock file; no
    request."""

    TAG: ClassVar[str] = "pin_structured_prompt"
    text: str = field(kw_only=True)


@dataclass(frozen=True)
class RestoreOutput(Step):
    """A kept file takes its output's name back; no request."""

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
    """--prune: delete a local output file and forget it; no request."""

    TAG: ClassVar[str] = "delete"
    GENERATION: ClassVar[bool] = True
    key: str
    file: str | None
    spec: str | None = None

    def files_read(self, file_of: FileOf) -> tuple[str, ...]:
        return (self.file,) if self.file else ()


@dataclass(frozen=True)
class GenerationSummary(Step):
    """The outputs the spec asks for, in order (a noop, never carried out: the executor marks the
    manifest current with it)."""

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
    """Create the project (found again by name if it exists: never made twice)."""

    TAG: ClassVar[str] = "create_project"
    REQUESTS: ClassVar[int] = 1
    FIELD_SCHEMA: ClassVar[dict[str, dict[str, Any]]] = {
        "body": {"required": ["project_name"], "description": "create_project's arguments"}}
    body: dict[str, Any]  # create_project's arguments: project_name, ip_type, ip_medium, ...

    @property
    def name(self) -> str:
        return str(self.body["project_name"])


@dataclass(frozen=True)
class UpdateProject(Step):
    """Change the project's name or descriptions in place."""

    TAG: ClassVar[str] = "update_project"
    REQUESTS: ClassVar[int] = 1
    changes: dict[str, Any]  # attribute -> new value, as update_project takes them


@dataclass(frozen=True)
class ReplaceProject(CreateProject):
    """A new project (ip_type or ip_medium changed); the old one is renamed, or deleted with
    --prune."""

    TAG: ClassVar[str] = "replace_project"
    REQUESTS: ClassVar[int] = 2  # create the new project, rename or delete the old one
    old_id: int = field(kw_only=True)
    old: Literal["delete", "rename"] = field(kw_only=True)  # the old project's fate
    rename_to: str = field(kw_only=True)


@dataclass(frozen=True)
class DeleteProject(Step):
    """Delete the project."""

    TAG: ClassVar[str] = "delete_project"
    REQUESTS: ClassVar[int] = 1
    project_id: int


@dataclass(frozen=True)
class CreateDataset(Step):
    """Create a dataset (found again by name if it exists: never made twice)."""

    TAG: ClassVar[str] = "create_dataset"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    dataset: str  # the spec's key
    name: str  # its remote name
    upload_type: str | None = None


@dataclass(frozen=True)
class CloneDataset(Step):
    """A new version of a completed dataset, cloned from it."""

    TAG: ClassVar[str] = "clone_dataset"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    dataset: str
    name: str
    source_id: int
    source_name: str


@dataclass(frozen=True)
class RenameDataset(Step):
    """Rename a dataset in place."""

    TAG: ClassVar[str] = "rename_dataset"
    REQUESTS: ClassVar[int] = 1
    dataset: str
    name: str


@dataclass(frozen=True)
class DeleteDataset(Step):
    """Delete a dataset."""

    TAG: ClassVar[str] = "delete_dataset"
    REQUESTS: ClassVar[int] = 1
    dataset: str  # the spec key that owns it
    dataset_id: int
    name: str


@dataclass(frozen=True)
class CompleteDataset(Step):
    """Mark a dataset completed (it is frozen from then on)."""

    TAG: ClassVar[str] = "complete_dataset"
    REQUESTS: ClassVar[int] = 1
    dataset: str


@dataclass(frozen=True)
class VisualSchema(Step):
    """Set a dataset's visual schema: generated (and refined), the spec's, or the lock's."""

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
    """Upload one image."""

    TAG: ClassVar[str] = "upload_image"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    dataset: str
    key: str  # the image's key in the spec
    image_name: str  # its remote name


@dataclass(frozen=True)
class DeleteImage(Step):
    """Delete one image."""

    TAG: ClassVar[str] = "delete_image"
    REQUESTS: ClassVar[int] = 1
    dataset: str
    image_name: str
    image_id: int | None = None  # None: not known yet (a clone's), found by name and `copy`
    copy: int = 0  # which of the images of that name


@dataclass(frozen=True)
class MovedImage(Step):
    """An image renamed on disk with the same content (a noop: nothing is sent)."""

    TAG: ClassVar[str] = "moved"
    CARRIED_OUT: ClassVar[bool] = False
    dataset: str
    key: str
    image_name: str  # the name it was uploaded with


@dataclass(frozen=True)
class BulkUpload(Step):
    """Upload an advanced dataset's images as one zip."""

    TAG: ClassVar[str] = "bulk_upload"
    READS_FILES: ClassVar[bool] = True
    REQUESTS: ClassVar[int] = 1
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "bulk upload"
    dataset: str
    zip_url: str | None = None  # None: a zip built and staged at apply time


@dataclass(frozen=True)
class WaitBulk(Step):
    """Wait for a bulk upload in progress."""

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
    """One image's caption: manual, refined or regenerated."""

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
    """Create a model on a dataset (found again by name if it exists: never made twice)."""

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
    """Rename a model or change its description in place."""

    TAG: ClassVar[str] = "update_model"
    REQUESTS: ClassVar[int] = 1
    model: str
    changes: dict[str, Any]  # attribute -> new value, as update_model takes them (name, description)

    def names_model(self) -> tuple[str, str] | None:
        return (self.model, self.changes["name"]) if "name" in self.changes else None


@dataclass(frozen=True)
class StartTraining(Step):
    """Start a model's training (billed), then wait for it; null parameters are the service's
    defaults."""

    TAG: ClassVar[str] = "start_training"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "training"
    model: str
    params: TrainingParams  # what start_training sends (the service's defaults where None)

    def cost(self) -> Cost:
        return Cost(trainings=1, requests=1)


@dataclass(frozen=True)
class WaitTraining(Step):
    """Wait for a training in progress."""

    TAG: ClassVar[str] = "wait_training"
    CONCURRENCY: ClassVar[Concurrency] = "wait"
    WAITS_ON: ClassVar[str] = "training"
    model: str


@dataclass(frozen=True)
class DeleteModel(Step):
    """Delete a model; a training in progress is stopped first."""

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
    """The step a plan file wrote; raises KeyError, TypeError or ValueError when it is not one.

    Read back by its class's type hints, as step_to_dict wrote it: a list where the field is a tuple,
    an object where it is a dataclass (OutputFields, Superseded, TrainingParams)."""
    cls = STEP_TYPES[data["type"]]
    values = {k: v for k, v in data.items() if k != "type"}
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"a {data['type']} step has no field {sorted(unknown)[0]!r}")
    return _from_json(cls, values)


Reader = Callable[[Any], Any]
_READERS: dict[type, dict[str, Reader]] = {}  # by class: its fields that JSON does not give as they are typed


def _from_json(cls: type[_T], values: dict[str, Any]) -> _T:
    readers = _READERS.get(cls)
    if readers is None:
        hints = typing.get_type_hints(cls)
        found = {f.name: _reader(hints[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        readers = _READERS.setdefault(cls, {name: read for name, read in found.items() if read is not None})
    if readers:
        values = {name: readers[name](value) if name in readers else value for name, value in values.items()}
    return cls(**values)


def _reader(hint: Any) -> Reader | None:
    """How a JSON value becomes the field's type (None: it is that already): a dataclass from an
    object, a tuple from a list, either of them or None for `X | None`."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint

        def nested(value: Any) -> Any:
            if not isinstance(value, dict):
                raise TypeError(f"{cls.__name__} is an object, not {value!r}")
            return _from_json(cls, value)
        return nested
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        inner = _reader(others[0]) if len(others) == 1 else None
        return None if inner is None else (lambda value: None if value is None else inner(value))
    if origin is tuple:
        item = _reader(args[0]) if args else None
        if item is None:
            return lambda value: tuple(value) if isinstance(value, list) else value
        return lambda value: tuple(item(v) for v in value) if isinstance(value, list) else value
    return None
