"""`outputs`: the generation outputs the manifest records: the local one, or with a backend the
backend's (a fresh checkout's working copy has none until `pull`). No API request."""

from __future__ import annotations

from typing import Any

from ..state.old_folder import load_generation_manifest
from .workspace import Workspace


def outputs(ws: Workspace) -> list[dict[str, Any]]:
    """Key, file (absolute `path`), prompt, seed, model, status of each output, in prompt order."""
    generation = ws.desired.generation
    if generation is None:
        return []
    manifest = load_generation_manifest(generation, ws.desired.models)  # not moved from outputs/ yet: there
    # with a backend, its records (a fresh checkout has none); files after `pull`
    manifest = ws.state().open(write_local=False).manifest or manifest
    out = []
    for record in sorted(manifest, key=lambda r: (r.order if r.order is not None else 1 << 30, r.name)):
        data = record.to_json()
        data["path"] = str(manifest.output_dir / record.file) if record.file else None
        out.append(data)
    return out
