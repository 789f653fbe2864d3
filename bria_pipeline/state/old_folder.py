"""The spec's manifest, with the outputs it made at the old default folder found there.

Left out of a spec, `generate.output_dir` is now ``outputs/<spec stem>/``; a spec applied before
that wrote into ``outputs/`` (shared by every spec of its directory). When the spec's own folder
has no manifest yet and the old one has, the records this spec made (stamped with its file name,
or made by one of its models) are read from there, their files looked for in both places, and
the manifest is marked ``moving_to`` the new folder: the plan sees them up to date, and apply
moves them (apply/relocate.py) before anything else.
"""

from __future__ import annotations

from collections.abc import Iterable

from bria_pipeline.identity import model_base
from bria_pipeline.model import Desired, DesiredGeneration
from bria_pipeline.state.manifest import Manifest, has_manifest


def load_manifest(desired: Desired) -> Manifest | None:
    """The spec's output manifest, with its files observed (None without a `generate:` section)."""
    generation = desired.generation
    if generation is None:
        return None
    return load_generation_manifest(generation, desired.models)


def load_generation_manifest(generation: DesiredGeneration, models: Iterable[str] = ()) -> Manifest:
    manifest = Manifest.load(generation.output_dir)
    legacy = generation.legacy_output_dir
    if legacy is None or has_manifest(generation.output_dir) or not has_manifest(legacy):
        return manifest
    keys = {model_base(m) for m in models} | {model_base(r.model) for r in generation.images}
    keys |= {model_base(v.model) for v in generation.videos}
    old = Manifest.load(legacy, observe=False)
    outputs = [r for r in old if r.belongs_to(generation.spec, keys)]
    prompts = [p for p in old.structured_prompts.values() if model_base(p.model) in keys]
    if not outputs and not prompts:
        return manifest
    found = Manifest(legacy, outputs, prompts)
    found.observe()
    moved = Manifest(generation.output_dir, [r for r in outputs if r.file and r.file not in found.files])
    moved.observe()  # a move killed half way: some files are in the new folder already
    found.files.update(moved.files)
    found.moving_to = generation.output_dir
    return found
