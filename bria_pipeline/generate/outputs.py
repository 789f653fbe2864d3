"""What each desired output is called: its key, its file name, its plan address. Pure.

`expand_outputs(gen, models)` turns the spec's generation section (already expanded by the spec
layer: matrix x seeds) into `DesiredOutput`s and `DesiredStructuredPrompt`s:

- key      `GenerationRequest.key(model remote name, model version)`; videos hash their model,
           version, seed and the key of their source image, so a changed image makes a new video;
- name     ``<set>/<variables>-seed<seed>`` (the file without extension, relative to output_dir);
           a training sweep member's outputs get a folder of its variables
           (``<set>/rank-32/<variables>-seed<seed>``, see GenerationRequest.file_stem); other
           models sharing a set get one named after the model; videos live in ``videos/<name>``;
- address  ``generation.<set>[<name after the set folder>]``, ``video.<name>``,
           ``structured_prompt.<set>`` (``structured_prompt.<set>[<variables>]`` when a set
           has several).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bria_pipeline import addresses
from bria_pipeline.generate.errors import GenerationError
from bria_pipeline.model import DesiredGeneration, GenerationRequest, StructuredPromptSpec, VideoRequest, digest
from bria_pipeline.output_names import disambiguated, in_model_folder, slug, source_name, video_name

KEY_LENGTH = 16


@dataclass(frozen=True)
class ModelRef:
    """What generation needs to know about one model key of the spec.

    remote_name  the model's fingerprinted remote name (``lucy-lora-1a2b3c4d``): part of every key
    remote_id    the tailored_model_id to send; None while the model is not trained yet
    version      the checkpoint / model version generations use, as the spec chose it (a step
                 number, "latest", or None for the service's default). Part of every key, so it
                 must be known before training ends: use the spec's choice, not what appears later.
    """

    remote_name: str
    remote_id: str | None = None
    version: Any = None

    @property
    def trained(self) -> bool:
        return self.remote_id is not None


def training_address(model_key: str) -> str:
    """The plan address of a model's training, which generation with that model waits for."""
    return addresses.training(model_key)


def video_key(model: ModelRef, source_key: str, seed: int | None) -> str:
    return digest(
        {
            "kind": "video",
            "model": model.remote_name,
            "checkpoint": model.version,
            "source": source_key,
            "seed": seed,
        }
    )[:KEY_LENGTH]


@dataclass(frozen=True)
class DesiredStructuredPrompt:
    """One structured prompt to generate (and refine), pinned by its inputs hash."""

    spec: StructuredPromptSpec
    set_name: str
    address: str
    model: str  # the model whose visual schema shapes it: the first (sorted) model that uses it

    @property
    def inputs_hash(self) -> str:
        return self.spec.inputs_hash


@dataclass(frozen=True)
class DesiredOutput:
    """One image or video the spec asks for."""

    key: str
    kind: Literal["image", "video"]
    address: str
    name: str
    set_name: str
    model: str
    ref: ModelRef
    request: GenerationRequest | None = None
    video: VideoRequest | None = None
    source_key: str | None = None  # videos: the source image's key
    source_address: str | None = None
    structured_prompt: DesiredStructuredPrompt | None = field(default=None, compare=False)
    order: int = 0  # position in the spec's expansion

    def record_fields(self) -> dict[str, Any]:
        """The manifest fields that describe this output (everything but its progress)."""
        base: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "set_name": self.set_name,
            "model": self.model,
            "model_name": self.ref.remote_name,
            "model_id": self.ref.remote_id,
            "model_version": self.ref.version,
            "order": self.order,
        }
        if self.request is not None:
            req = self.request
            base.update(
                variables=dict(req.variables),
                prompt=req.prompt,
                params=dict(req.params),
                seed=req.seed,
                structured_prompt_hash=req.structured_prompt.inputs_hash if req.structured_prompt else None,
            )
        if self.video is not None:
            base.update(seed=self.video.seed, source=self.source_key)
        return base


@dataclass(frozen=True)
class ExpandedGeneration:
    images: tuple[DesiredOutput, ...]
    videos: tuple[DesiredOutput, ...]
    structured_prompts: tuple[DesiredStructuredPrompt, ...]

    @property
    def outputs(self) -> tuple[DesiredOutput, ...]:
        return self.images + self.videos

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(o.key for o in self.outputs)


def _model_ref(models: Mapping[str, ModelRef], key: str, where: str) -> ModelRef:
    try:
        return models[key]
    except KeyError:
        close = difflib.get_close_matches(key, list(models), n=1)
        raise GenerationError(
            f"{where} uses model {key!r}, which the plan knows nothing about",
            hint=f"did you mean {close[0]!r}?" if close else f"known models: {', '.join(sorted(models)) or 'none'}",
        ) from None


def _image_names(requests: tuple[GenerationRequest, ...]) -> list[str]:
    """File names without extension; a set made with several models gets a folder per model."""
    models_per_set: dict[str, set[str]] = {}
    for req in requests:
        models_per_set.setdefault(req.set_name, set()).add(req.model)
    names = []
    for req in requests:
        stem = req.file_stem  # a sweep member's stem already has a folder of its own
        if len(models_per_set[req.set_name]) > 1 and "[" not in req.model:
            stem = in_model_folder(stem, req.model)
        names.append(stem)
    return names


def _structured_prompts(
    requests: tuple[GenerationRequest, ...], models: Mapping[str, ModelRef]
) -> dict[str, DesiredStructuredPrompt]:
    users: dict[str, list[GenerationRequest]] = {}
    for req in requests:
        if req.structured_prompt is not None:
            users.setdefault(req.structured_prompt.inputs_hash, []).append(req)
    per_set: dict[str, list[str]] = {}
    for h, reqs in users.items():
        per_set.setdefault(reqs[0].set_name, []).append(h)
    result: dict[str, DesiredStructuredPrompt] = {}
    for set_name, hashes in per_set.items():
        tails: dict[str, str] = {}
        if len(hashes) > 1:
            for h in hashes:
                variables = users[h][0].variables
                tails[h] = "-".join(slug(str(v)) for _, v in variables if slug(str(v))) or h[:8]
            if len(set(tails.values())) < len(tails):
                tails = {h: h[:8] for h in hashes}
        for h in hashes:
            reqs = users[h]
            trained = sorted({r.model for r in reqs if models.get(r.model, ModelRef("")).trained})
            model = trained[0] if trained else sorted({r.model for r in reqs})[0]
            address = addresses.structured_prompt(set_name, tails.get(h))
            result[h] = DesiredStructuredPrompt(reqs[0].structured_prompt, set_name, address, model)  # type: ignore[arg-type]
    return result


def expand_outputs(gen: DesiredGeneration, models: Mapping[str, ModelRef]) -> ExpandedGeneration:
    """Every desired output with its key, name and address. Raises GenerationError on bad refs."""
    sps = _structured_prompts(gen.images, models)
    images: list[DesiredOutput] = []
    seen: dict[str, DesiredOutput] = {}
    taken: dict[str, str] = {}  # name -> key
    for req, name in zip(gen.images, _image_names(gen.images)):
        ref = _model_ref(models, req.model, f"prompt set {req.set_name!r}")
        key = req.key(ref.remote_name, ref.version)
        if key in seen:
            continue  # the same request twice: one output
        if name in taken:
            name = disambiguated(name, key)
        taken[name] = key
        out = DesiredOutput(
            key=key,
            kind="image",
            address=addresses.output(req.set_name, name),
            name=name,
            set_name=req.set_name,
            model=req.model,
            ref=ref,
            request=req,
            structured_prompt=sps.get(req.structured_prompt.inputs_hash) if req.structured_prompt else None,
            order=len(seen),
        )
        seen[key] = out
        images.append(out)

    by_stem: dict[str, list[DesiredOutput]] = {}
    for out in images:
        assert out.request is not None
        by_stem.setdefault(out.request.file_stem, []).append(out)
    videos: list[DesiredOutput] = []
    for video in gen.videos:
        ref = _model_ref(models, video.model, f"video {video.name!r}")
        candidates = by_stem.get(source_name(video.source), [])
        if len(candidates) > 1:
            candidates = [c for c in candidates if c.model == video.model] or candidates[:1]
        if not candidates:
            close = difflib.get_close_matches(video.source, list(by_stem), n=1)
            raise GenerationError(
                f"video {video.name!r}: no generated image is named {video.source!r}",
                hint=f"did you mean {close[0]!r}?" if close else "name an image as <set>/<variables>-seed<seed>",
            )
        source = candidates[0]
        name = video_name(video.name)
        if name in taken:
            name = disambiguated(name, video_key(ref, source.key, video.seed))
        key = video_key(ref, source.key, video.seed)
        if key in seen:
            continue
        taken[name] = key
        out = DesiredOutput(
            key=key,
            kind="video",
            address=addresses.video(video.name),
            name=name,
            set_name=video.name,
            model=video.model,
            ref=ref,
            video=video,
            source_key=source.key,
            source_address=source.address,
            order=len(seen),
        )
        seen[key] = out
        videos.append(out)
    return ExpandedGeneration(tuple(images), tuple(videos), tuple(sps.values()))
