"""The desired state: typed objects the spec layer produces and the planner consumes.

`spec/` turns a YAML file into a `Desired` (after rendering and validating everything);
`plan/` compares a `Desired` with what exists remotely. Nothing here does I/O.

Identity without idempotency keys (see the README, "How bria-pipeline finds what it made"):

- an image's remote `image_name` carries its content hash: ``pose-01.3fa2c1d9e0b7.png``;
- a dataset's and a model's remote names carry a short fingerprint of what defines them:
  ``lucy-1a2b3c4d``; same spec, same names, nothing to do;
- a generation output's key is the hash of its canonical request.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from .decisions import NO_DECISIONS, Decisions
from .output_names import request_name
from .training_params import TrainingParams

SHORT_HASH = 12  # hex characters of a content hash carried in an image name
FINGERPRINT = 8  # hex characters of a fingerprint carried in a dataset or model name

UploadType = Literal["basic", "advanced"]
TrainingMode = Literal["fully_automated", "expert"]


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept. The input of every hash here."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    """sha256 hex of a value's canonical JSON (strings are hashed as JSON strings too)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


_TAGGED = re.compile(rf"^.*\.([0-9a-f]{{{SHORT_HASH}}})\.[A-Za-z0-9]+$")


def content_tag(image_name: str | None) -> str | None:
    """The content hash a remote image name carries: ``pose-01.3fa2c1d9e0b7.png`` -> ``3fa2c1d9e0b7``.

    Images are identified by it, not by the file stem: a file renamed on disk is the same image.
    """
    match = _TAGGED.match(image_name or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class Mark:
    """Where something was written: 1-based line and column in a file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class DesiredProject:
    name: str
    ip_type: str
    ip_medium: str
    description: str | None = None
    ip_name: str | None = None
    ip_description: str | None = None
    mark: Mark | None = field(default=None, compare=False)

    # Fields the API can change in place (PUT /tailored-gen/projects/{id}).
    MUTABLE = ("description", "ip_name", "ip_description")
    # Fields fixed at creation: a change means a new project (the plan says so).
    IMMUTABLE = ("ip_type", "ip_medium")


@dataclass(frozen=True)
class ImageSource:
    """One training image, resolved and pre-flighted by the spec layer.

    `key` is what the spec calls it and what the plan shows: the path relative to the spec's
    directory (``images/pose-01.png``) or the URL. `sha256` is the content hash of local files
    (URL images: the hash of the URL text, prefixed ``url:`` in `identity`).
    """

    key: str
    sha256: str
    path: Path | None = None
    url: str | None = None
    increase_resolution: bool = True
    content_moderation: bool = False
    caption: str | None = None  # a manual caption (a JSON text), set with PUT as caption_source=manual
    caption_refine: tuple[str, ...] = ()  # refinement instructions applied in order to its caption
    width: int | None = None
    height: int | None = None
    size: int | None = None
    mark: Mark | None = field(default=None, compare=False)

    @property
    def remote_name(self) -> str:
        """``pose-01.3fa2c1d9e0b7.png``: the name it is uploaded under; listing shows what is there."""
        base = PurePosixPath(self.url.split("?")[0] if self.url else self.key).name or "image"
        stem, dot, ext = base.rpartition(".")
        if not dot:
            stem, ext = base, "png"
        return f"{stem}.{self.sha256[:SHORT_HASH]}.{ext.lower()}"

    @property
    def content_tag(self) -> str:
        """The short content hash carried in its remote name: what identifies the image remotely."""
        return self.sha256[:SHORT_HASH]

    @property
    def identity(self) -> dict[str, Any]:
        """What defines this image inside a dataset's fingerprint: its content and caption, not its name."""
        return {
            "content": self.sha256,
            "caption": self.caption,
            "caption_refine": list(self.caption_refine),
        }

    def legacy_identity(self, name: str | None = None) -> dict[str, Any]:
        """The identity of releases that named datasets after file names (see `DesiredDataset.legacy_fingerprint`)."""
        return {
            "name": name or self.remote_name,
            "caption": self.caption,
            "caption_refine": list(self.caption_refine),
        }


@dataclass(frozen=True)
class VisualSchemaSpec:
    """Where a dataset's visual schema comes from: exactly one of samples, file text, inline text."""

    samples: tuple[ImageSource, ...] = ()  # 5..10 images sent to generate_visual_schema
    text: str | None = None  # from `file:` (read at validation) or `inline:`; a JSON text
    refine: tuple[str, ...] = ()  # refinement instructions, applied in order
    mark: Mark | None = field(default=None, compare=False)

    @property
    def inputs_hash(self) -> str:
        """The key under which spec.lock.yaml pins the schema these inputs produced."""
        return digest(
            {
                "samples": [s.sha256 for s in self.samples],
                "text": self.text,
                "refine": list(self.refine),
            }
        )


@dataclass(frozen=True)
class StagingSpec:
    """Where an advanced dataset's zip is put for the service to fetch: the spec's `staging:`.

    kind "url_template"  `upload_command` (an argv list; ``{file}``, ``{name}``, ``{url}`` filled in,
                         run without a shell) uploads the zip; `url_template` (with ``{name}``)
                         is the URL the service fetches it from.
    kind "fsspec"        `base` is an fsspec URL (``s3://bucket/prefix``, ``gcs://...``); the
                         service gets a GET URL presigned for `presign_seconds`, or `public_url`
                         (with ``{name}``) when given. `storage_options` go to fsspec.
    kind "sandbox"       the sandbox's own staging area (tests, demos, ``--sandbox``).
    The zip's name carries its content hash, so an unchanged dataset is not uploaded again.
    Where the zip is staged is not part of the dataset's fingerprint.
    """

    kind: Literal["url_template", "fsspec", "sandbox"]
    url_template: str | None = None
    upload_command: tuple[str, ...] = ()
    base: str | None = None
    presign_seconds: int = 3600
    public_url: str | None = None
    storage_options: tuple[tuple[str, Any], ...] = ()
    mark: Mark | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DesiredDataset:
    key: str  # the spec's name for it (`datasets: {lucy: ...}`)
    upload_type: UploadType
    images: tuple[ImageSource, ...]
    visual_schema: VisualSchemaSpec
    zip_url: str | None = None  # advanced only: a ready zip the service fetches
    complete: bool = True  # mark completed once images and captions are in
    content_moderation: bool = False
    mark: Mark | None = field(default=None, compare=False)
    staging: StagingSpec | None = field(default=None, compare=False)  # advanced, built from local files
    upload_type_auto: bool = field(default=False, compare=False)  # chosen by image count (<= 200: basic)
    # images the decisions file leaves out, with the reason: (image key, reason)
    excluded: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def fingerprint(self) -> str:
        """What defines the dataset: its images' content and captions, upload type and schema inputs.

        File names are not part of it: renaming a file on disk leaves the dataset as it is.
        """
        return digest(
            {
                "identity": 2,
                "upload_type": self.upload_type,
                "images": sorted({canonical_json(i.identity) for i in self.images}),
                "zip_url": self.zip_url,
                "schema": self.visual_schema.inputs_hash,
            }
        )[:FINGERPRINT]

    def legacy_fingerprint(self, names: Mapping[str, str] | None = None) -> str:
        """The fingerprint earlier releases gave the same content, which hashed the images' remote names.

        Versions named that way keep matching (nobody retrains because they upgraded). `names` maps a
        content tag to the remote image name a listed version holds it under, so a version made
        before a file was renamed on disk is still recognised as holding the spec's content.
        """
        names = names or {}
        return digest(
            {
                "upload_type": self.upload_type,
                "images": sorted(
                    (i.legacy_identity(names.get(i.content_tag)) for i in self.images), key=lambda x: x["name"]
                ),
                "zip_url": self.zip_url,
                "schema": self.visual_schema.inputs_hash,
            }
        )[:FINGERPRINT]

    @property
    def fingerprints(self) -> tuple[str, str]:
        """The fingerprints a version of this content may be named with: today's, then the legacy one."""
        return (self.fingerprint, self.legacy_fingerprint())

    @property
    def remote_name(self) -> str:
        return f"{self.key}-{self.fingerprint}"


@dataclass(frozen=True)
class DesiredModel:
    key: str  # the spec's name (`models: {lucy-lora: ...}`); a sweep member: `lucy-lora[rank=32]`
    dataset: str  # key of a DesiredDataset
    training_mode: TrainingMode = "fully_automated"
    training: TrainingParams = TrainingParams()
    checkpoint: int | Literal["latest"] | None = None  # which checkpoint generations use
    sweep: tuple[tuple[str, Any], ...] = ()  # the sweep variables that made this member
    mark: Mark | None = field(default=None, compare=False)
    description: str | None = None  # changeable in place (PUT); not part of the fingerprint

    def training_body(self) -> dict[str, Any]:
        """What start_training sends: the spec's parameters in expert mode, nothing otherwise."""
        return self.training.as_body() if self.training_mode == "expert" else {}

    @property
    def base_key(self) -> str:
        """The spec's name without the sweep member part: ``lucy-lora[rank=32]`` -> ``lucy-lora``."""
        return self.key.split("[", 1)[0]

    def fingerprint(self, dataset: DesiredDataset | str) -> str:
        """Over the dataset's fingerprint (or a dataset version's fingerprint, as a text), mode and parameters."""
        return digest(
            {
                "dataset": dataset if isinstance(dataset, str) else dataset.fingerprint,
                "mode": self.training_mode,
                "training": self.training.as_body(),
            }
        )[:FINGERPRINT]

    def remote_name(self, dataset: DesiredDataset) -> str:
        base = self.key.split("[", 1)[0]
        return f"{base}-{self.fingerprint(dataset)}"


@dataclass(frozen=True)
class StructuredPromptSpec:
    """Generate a structured prompt from text, optionally refine it; pinned in spec.lock.yaml."""

    prompt: str
    refine: str | None = None
    seed: int | None = None

    @property
    def inputs_hash(self) -> str:
        return digest({"prompt": self.prompt, "refine": self.refine, "seed": self.seed})


# The contract's image generation parameters (besides prompt, structured_prompt and seed), with its
# defaults; negative_prompt has none. Every request carries every one (see spec/generation_builder.py).
IMAGE_PARAMETER_DEFAULTS: dict[str, Any] = {
    "aspect_ratio": "1:1",
    "guidance_scale": 5,
    "steps_num": 50,
    "tailored_model_influence": 1.0,
    "prompt_content_moderation": True,
    "visual_output_content_moderation": True,
}
IMAGE_PARAMETERS = (*IMAGE_PARAMETER_DEFAULTS, "negative_prompt")


@dataclass(frozen=True)
class GenerationRequest:
    """One image to generate: one element of a prompt set after matrix and seed expansion."""

    set_name: str
    model: str  # key of a DesiredModel
    variables: tuple[tuple[str, Any], ...]  # matrix values that made this one, in spec order
    seed: int
    prompt: str | None = None
    structured_prompt: StructuredPromptSpec | None = None
    params: tuple[tuple[str, Any], ...] = ()  # aspect_ratio, guidance_scale, steps_num, ... (sorted)
    mark: Mark | None = field(default=None, compare=False)

    def key(self, model_remote_name: str, checkpoint: Any = None) -> str:
        """The output's identity: hash of the canonical request."""
        return digest(
            {
                "model": model_remote_name,
                "checkpoint": checkpoint,
                "prompt": self.prompt,
                "structured_prompt": self.structured_prompt.inputs_hash if self.structured_prompt else None,
                "params": dict(self.params),
                "seed": self.seed,
            }
        )[:16]

    @property
    def file_stem(self) -> str:
        """``places/beach-dawn-seed1`` (see output_names.request_name)."""
        return request_name(self.set_name, self.model, self.variables, self.seed)


@dataclass(frozen=True)
class VideoRequest:
    """Image-to-video from a named generated image (`from: places/beach-dawn-seed1`)."""

    name: str
    model: str
    source: str  # file stem of a GenerationRequest
    seed: int | None = None
    mark: Mark | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DesiredGeneration:
    output_dir: Path
    images: tuple[GenerationRequest, ...] = ()
    videos: tuple[VideoRequest, ...] = ()
    mark: Mark | None = field(default=None, compare=False)
    spec: str = ""  # the spec's file name: manifest records are stamped with it (whose outputs they are)
    # Left out of the spec, output_dir is outputs/<spec stem>/; outputs made when the default was
    # outputs/ itself are found there and moved (see apply.relocate).
    legacy_output_dir: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Desired:
    """Everything one spec asks for, validated. The planner's left-hand side."""

    spec_path: Path
    spec_dir: Path
    project: DesiredProject
    datasets: dict[str, DesiredDataset]
    models: dict[str, DesiredModel]
    generation: DesiredGeneration | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    source_hash: str = ""  # sha256 of the rendered spec: a saved plan is refused if it changed
    text_hash: str = ""  # sha256 of the rendered spec's text and variables alone (not the files it names)
    backend_url: str | None = None  # the spec's `backend: {url: ...}` (state/backend.py)
    decisions: Decisions = field(default=NO_DECISIONS, compare=False)  # <spec>.decisions.yaml, read with the spec

    @property
    def files_hash(self) -> str:
        """sha256 of what the spec's files hold (images, captions, schema inputs), by dataset."""
        return digest({k: d.fingerprint for k, d in sorted(self.datasets.items())})

    def dataset_of(self, model: DesiredModel) -> DesiredDataset:
        return self.datasets[model.dataset]
