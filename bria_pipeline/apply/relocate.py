"""Outputs made when the default output folder was `outputs/` itself, found and moved, never paid again.

Left out of a spec, `generate.output_dir` is now ``outputs/<spec stem>/``: specs sharing a directory
each have their own manifest. A spec applied before that wrote into ``outputs/`` (shared by every
spec of its directory). Those outputs are this spec's paid work, so:

- `load_manifest` (state/old_folder.py; plan and apply): when the spec's own folder has no manifest yet and
  ``outputs/manifest.json`` exists, the records this spec made (stamped with its file name, or made
  by one of its models) are read from there, their files looked for in both places, and the
  manifest is marked ``moving_to`` the new folder. The plan sees them up to date: no request.
- `move_outputs` (apply, under the state lock, before any generation): each file is renamed into the
  new folder, the new manifest written, then the records are dropped from the old one; the old
  folder's manifest, gallery and thumbnails go once no spec's records are left in it. Each step is
  idempotent: an apply killed half way finds the files in either place and finishes the move.

Records of other specs stay where they are for their own spec to collect.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bria_pipeline.reports.gallery import INDEX_FILE, write_gallery
from bria_pipeline.state.manifest import JOURNAL_FILE, MANIFEST_FILE, Manifest
from bria_pipeline.state.old_folder import load_manifest
from bria_pipeline.generate.output_files import remove_emptied
from bria_pipeline.output_names import THUMB_DIR
from bria_pipeline.model import Desired


def settle_outputs(desired: Desired) -> Manifest | None:
    """The spec's manifest in its own folder, outputs at the old default folder moved there first.
    For a caller that holds the spec's lock and is about to read output_dir as the whole truth
    (copying it elsewhere, say); plan reads with `load_manifest`, apply moves in the executor (apply/executor.py)."""
    manifest = load_manifest(desired)
    if manifest is not None and manifest.moving_to is not None and desired.generation is not None:
        move_outputs(manifest, desired.generation.spec)
    return manifest


def move_outputs(manifest: Manifest, spec: str) -> int:
    """Move `manifest` (from `load_manifest`, ``moving_to`` set) into its new folder; returns the
    number of files moved. Afterwards `manifest` is the new folder's, saved."""
    target = manifest.moving_to
    if target is None:
        return 0
    source = manifest.output_dir
    moved = 0
    for record in manifest:
        if spec and not record.spec:
            record.spec = spec
        if not record.file:
            continue
        old, new = source / record.file, target / record.file
        if old.is_file() and not new.exists():
            new.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, new)
            moved += 1
            remove_emptied(source, old.parent)
    manifest.output_dir, manifest.moving_to = target, None
    manifest._dirty = True
    manifest.save()
    manifest.observe()
    _forget_in(source, set(manifest.outputs), set(manifest.structured_prompts))
    return moved


def _forget_in(folder: Path, keys: set[str], prompts: set[str]) -> None:
    """Drop the moved records from the old folder's manifest; remove what is left of it once empty."""
    old = Manifest.load(folder, observe=False)
    old.discard(keys, prompts)
    if old.outputs or old.structured_prompts:
        old.save()
        old.observe()
        write_gallery(folder, old)
        return
    for name in (MANIFEST_FILE, JOURNAL_FILE, INDEX_FILE):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / THUMB_DIR, ignore_errors=True)
