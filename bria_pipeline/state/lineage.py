"""Whose state is this? A state knows the spec it was made for, as Terraform's state lineage does.

    lineage = {"id": "3f9c...", "project": "lucy-brand", "spec": "brands/lucy/spec.yaml",
               "backend_key": "brands/lucy/spec", "created_at": "..."}

Made at the first apply, kept by every later one. A state whose lineage names another project,
another spec path or another backend key (a folder copied with `cp -r brands/lucy brands/mira`,
its untracked `.bria/` included, names edited; a state file put in the wrong place) is never
used to act: the run stops before any request and says what to do. A state made before
lineages existed is checked by the project name it recorded.

A spec that moved keeps its state: a state whose lineage id is the one the spec's lock file
records (state/locate.py found it by that id), or whose recorded spec file is no longer in the
checkout (`git mv brands/lucy brands/lucy-v2` moves the untracked `.bria/` along), is this
spec's, when its project is; the next apply records the new path.

So drift means "the remote changed", never "the spec changed": a project renamed in the spec is
a new project (after `refresh`), not a remote project to rename back.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ..model import Desired
from .errors import StateError
from .locate import same_spec, spec_file
from .clock import now_iso
from .store import StateStore


class LineageError(StateError):
    """The state belongs to another spec."""


def moved_here(lineage: dict[str, Any], spec: str, spec_path: Path | None, lineage_id: str | None = None) -> bool:
    """The state was made for this spec at another path: its lineage is the one located for it, or
    the spec file it names is no longer in this checkout."""
    if lineage_id and lineage.get("id") == lineage_id:
        return True
    recorded = lineage.get("spec")
    return bool(recorded and spec_path is not None and recorded != spec
                and not spec_file(recorded, spec_path).exists())


def mismatch(store: StateStore, desired: Desired, spec: str, backend_key: str | None, *,
             spec_path: Path | None = None, lineage_id: str | None = None) -> str | None:
    """What makes `store` another spec's state, or None when it is this spec's (or empty).
    `spec_path` and `lineage_id` (the lineage located for the spec) let a moved spec keep its state."""
    lineage = store.lineage
    if lineage:
        if lineage.get("project") != desired.project.name:
            return f"it was made for project {lineage.get('project')!r} (spec {lineage.get('spec')}), " \
                   f"and this spec names project {desired.project.name!r}"
        if moved_here(lineage, spec, spec_path, lineage_id):
            return None
        if lineage.get("spec") and not same_spec(lineage["spec"], spec):
            return f"it was made for the spec {lineage.get('spec')}, not {spec}"
        if backend_key and lineage.get("backend_key") and lineage.get("backend_key") != backend_key:
            return f"it was made for the backend key {lineage.get('backend_key')}, not {backend_key}"
        return None
    for record in store.records:
        if record.kind == "project" and record.name != desired.project.name:
            return f"it records project {record.name!r} (id {record.id}), and this spec names project {desired.project.name!r}"
    return None


def check(store: StateStore, desired: Desired, spec: str, backend_key: str | None, *, where: str | Path,
          spec_arg: str | None = None, spec_path: Path | None = None, lineage_id: str | None = None) -> None:
    why = mismatch(store, desired, spec, backend_key, spec_path=spec_path, lineage_id=lineage_id)
    if why is None:
        return
    spec_arg = spec_arg or spec
    if store.lineage.get("project", desired.project.name) != desired.project.name or not store.lineage:
        hint = (f"to adopt by name what exists for this spec's project, run `bria-pipeline refresh {spec_arg}` "
                f"(it rebuilds the state from the remote); or, if it was copied from elsewhere, forget it with "
                f"`bria-pipeline state rm {spec_arg}` (nothing remote is deleted; a backend keeps that state, marked forgotten)")
    else:
        hint = (f"{where} was copied from another spec's folder: forget it with `bria-pipeline state rm {spec_arg}` "
                "(it deletes that copy of the state, nothing else), then run again")
    raise LineageError(f"the state in {where} belongs to another spec: {why}. Nothing was sent", hint=hint)


def stamp(store: StateStore, desired: Desired, spec: str, backend_key: str | None, *, fresh: bool = False) -> bool:
    """Give `store` this spec's lineage (a new id when it has none, or `fresh`). True if changed."""
    want = {"project": desired.project.name, "spec": spec, "backend_key": backend_key}
    if store.lineage and not fresh and all(store.lineage.get(k) == v for k, v in want.items()):
        return False
    lineage_id = store.lineage.get("id") if store.lineage and not fresh else None
    store.lineage = {**want, "id": lineage_id or secrets.token_hex(8),
                     "created_at": store.lineage.get("created_at") if lineage_id else now_iso()}
    return True
