"""Plain-data builders for generation tests: spec-like requests, manifests with files on disk."""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

import pytest

from bria_pipeline.generate.atomic_files import sha256_bytes
from bria_pipeline.generate.manifest import FileState, Manifest, OutputRecord
from bria_pipeline.generate.outputs import ModelRef, expand_outputs
from bria_pipeline.model import DesiredGeneration, GenerationRequest, StructuredPromptSpec, VideoRequest


class _Vars(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Build:
    """Builds what the spec layer would produce, and manifests as earlier runs would leave them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "outputs"

    def prompt_set(
        self,
        name: str = "places",
        template: str = "Lucy at the {place} {time}",
        matrix: dict[str, list[Any]] | None = None,
        seeds: tuple[int, ...] = (1, 2),
        model: str = "lucy-lora",
        params: dict[str, Any] | None = None,
        structured: StructuredPromptSpec | None = None,
        prompt: bool = True,
    ) -> tuple[GenerationRequest, ...]:
        matrix = {"place": ["beach", "city"], "time": ["dawn", "night"]} if matrix is None else matrix
        names = list(matrix)
        out = []
        for values in product(*(matrix[n] for n in names)):
            variables = tuple(zip(names, values))
            for seed in seeds:
                out.append(
                    GenerationRequest(
                        set_name=name,
                        model=model,
                        variables=variables,
                        seed=seed,
                        prompt=template.format_map(_Vars(variables)) if prompt else None,
                        structured_prompt=structured,
                        params=tuple(sorted((params or {"aspect_ratio": "1:1", "steps_num": 30}).items())),
                    )
                )
        return tuple(out)

    def generation(self, *images: tuple[GenerationRequest, ...], videos: tuple[VideoRequest, ...] = ()) -> DesiredGeneration:
        return DesiredGeneration(self.out, tuple(r for group in images for r in group), videos)

    @staticmethod
    def models(trained: bool = True, **extra: ModelRef) -> dict[str, ModelRef]:
        refs = {"lucy-lora": ModelRef("lucy-lora-1a2b3c4d", "1001" if trained else None, "latest")}
        refs.update(extra)
        return refs

    def done_manifest(self, gen: DesiredGeneration, models: dict[str, ModelRef], *, write_files: bool = True) -> Manifest:
        """A manifest in which every output of `gen` is done, its file on disk (or only recorded)."""
        manifest = Manifest(self.out)
        for out in expand_outputs(gen, models).outputs:
            data = f"{out.kind}:{out.key}".encode()
            ext = "mp4" if out.kind == "video" else "png"
            file = f"{out.name}.{ext}"
            record = OutputRecord(key=out.key, **out.record_fields())
            record.status, record.file, record.sha256, record.request_id = "done", file, sha256_bytes(data), f"req-{out.key[:6]}"
            if write_files:
                path = self.out / file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            manifest.outputs[record.key] = record
            manifest.files[file] = FileState(record.sha256, len(data), 0)
        return manifest


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)
