"""Plain-data builders for planner tests: a desired state, a lock, and remote states around them."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from bria_pipeline.lockfile import Lock
from bria_pipeline.model import (
    Desired,
    DesiredDataset,
    DesiredModel,
    DesiredProject,
    ImageSource,
    TrainingParams,
    VisualSchemaSpec,
)
from bria_pipeline.state.observed import Observed, ObservedDataset, ObservedImage, ObservedModel, ObservedProject

SCHEMA = '{"style": "flat illustration", "character": "Lucy"}'


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def image(key: str, content: str | None = None, **fields) -> ImageSource:
    return ImageSource(key=key, sha256=sha(content or key), path=Path(key), **fields)


def images(n: int = 6, prefix: str = "images/pose") -> tuple[ImageSource, ...]:
    return tuple(image(f"{prefix}-{i:02d}.png") for i in range(1, n + 1))


def dataset(key: str = "lucy", imgs: tuple[ImageSource, ...] | None = None, *, refine=("The character's name is Lucy",), **fields) -> DesiredDataset:
    imgs = images() if imgs is None else imgs
    schema = VisualSchemaSpec(samples=imgs[:5], refine=tuple(refine))
    return DesiredDataset(key=key, upload_type=fields.pop("upload_type", "basic"), images=imgs, visual_schema=schema, **fields)


def model(key: str = "lucy-lora", dataset_key: str = "lucy", *, rank: int = 64, steps: int = 1500, **fields) -> DesiredModel:
    return DesiredModel(
        key=key,
        dataset=dataset_key,
        training_mode=fields.pop("training_mode", "expert"),
        training=TrainingParams(rank=rank, learning_rate=0.0001, total_training_steps=steps, checkpoint_interval=500),
        **fields,
    )


def desired(*, datasets=None, models=None, project: DesiredProject | None = None, generation=None) -> Desired:
    datasets = datasets if datasets is not None else [dataset()]
    models = models if models is not None else [model()]
    return Desired(
        spec_path=Path("spec.yaml"),
        spec_dir=Path("."),
        project=project
        or DesiredProject(
            name="lucy-brand",
            ip_type="defined_character",
            ip_medium="illustration",
            description="Lucy, our mascot",
            ip_name="Lucy",
            ip_description="a girl with purple hair",
        ),
        datasets={d.key: d for d in datasets},
        models={m.key: m for m in models},
        generation=generation,
        source_hash="spec-hash-1",
    )


def pinned(d: Desired, schema: str = SCHEMA) -> Lock:
    lock = Lock()
    for ds in d.datasets.values():
        lock.pin_visual_schema(ds.visual_schema, schema)
    return lock


def remote_project(d: Desired, pid: int = 1, **changes) -> ObservedProject:
    p = d.project
    base = ObservedProject(
        id=pid,
        name=p.name,
        ip_type=p.ip_type,
        ip_medium=p.ip_medium,
        description=p.description,
        ip_name=p.ip_name,
        ip_description=p.ip_description,
    )
    return replace(base, **changes)


def remote_images(ds: DesiredDataset, start_id: int = 100, *, listed: bool = True) -> tuple[ObservedImage, ...]:
    return tuple(
        ObservedImage(id=start_id + n, image_name=i.remote_name, caption=f'{{"pose": {n}}}', caption_source="automatic")
        for n, i in enumerate(ds.images)
    )


def remote_dataset(ds: DesiredDataset, did: int = 10, *, name: str | None = None, status: str = "completed", listed: bool = False, schema: str | None = SCHEMA, imgs=None) -> ObservedDataset:
    obs_images = remote_images(ds, did * 100) if imgs is None else imgs
    return ObservedDataset(
        id=did,
        name=name or ds.remote_name,
        status=status,
        upload_type=ds.upload_type,
        captions_update_status="completed",
        visual_schema=schema,
        images_count=len(obs_images),
        images=obs_images if (listed or status == "draft") else None,
    )


def remote_model(m: DesiredModel, ds: DesiredDataset, mid: int = 20, dataset_id: int = 10, *, name: str | None = None, status: str = "Completed", params: dict | None = None) -> ObservedModel:
    return ObservedModel(
        id=mid,
        name=name or m.remote_name(ds),
        status=status,
        training_mode=m.training_mode,
        dataset_id=dataset_id,
        training_parameters=params if params is not None else m.training.as_body(),
        checkpoint_steps=(500, 1000, 1500) if status == "Completed" else (),
    )


def converged(d: Desired) -> Observed:
    """The remote after an uninterrupted apply of `d`: everything made, completed and trained."""
    datasets = []
    models = []
    ids = {}
    for n, ds in enumerate(d.datasets.values()):
        ids[ds.key] = 10 + n
        datasets.append(remote_dataset(ds, 10 + n))
    for n, m in enumerate(d.models.values()):
        models.append(remote_model(m, d.datasets[m.dataset], 20 + n, ids[m.dataset]))
    return Observed(project=remote_project(d), datasets=tuple(datasets), models=tuple(models))


def changes_only(plan) -> list[tuple[str, str]]:
    return [(a.address, a.kind) for a in plan.actions if a.is_change]
