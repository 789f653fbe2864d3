"""`output`: what a spec's runs produced, read from its state and output manifest. No API request.

    {"spec": ..., "project": {"name", "id"}, "gallery": {"path", "url", "exists"},
     "datasets": {KEY: {"id", "name"}}, "models": {KEY: {"id", "name", "version", "revision", "current"}},
     "counts": {"projects", "datasets", "models", "images", "videos"}, "billed": {"requests", "unknown_effect"}}

The same document ends apply and destroy (with the run's own figures beside it) and is what
`bria-pipeline output SPEC [NAME]` prints. Its JSON Schema is ``data/result.schema.json`` (`$defs/results`).

Ids come from the state's records (what this spec created or imported), so they are as fresh as the
last run that wrote the state; `refresh` rebuilds the records from the remote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..identity import model_base, parse_version_name
from ..reports.gallery import INDEX_FILE as GALLERY_FILE
from ..state.manifest import Manifest
from ..state.old_folder import load_generation_manifest
from ..state.observed import Recorded
from .workspace import Workspace

RESULT_FORMAT = "bria-pipeline-result"
RESULT_FORMAT_VERSION = 1


def results(ws: Workspace) -> dict[str, Any]:
    """The spec's results (see the module docstring), from its state and output manifest."""
    opened = ws.open_state(write_local=False)
    records = list(opened.store.records)
    manifest = _manifest(ws, opened.backend_manifest)
    project = next((r for r in records if r.kind == "project"), None)
    datasets = {key: _dataset(ws, key, records) for key in _keys(ws.desired.datasets, records, "dataset")}
    models = {key: _model(ws, key, records) for key in _keys(ws.desired.models, records, "model")}
    done = [r for r in manifest if r.status == "done" and not r.retired] if manifest is not None else []
    billed = (sum(r.billed for r in manifest) + sum(p.billed for p in manifest.structured_prompts.values())
              if manifest is not None else 0)
    unknown = (sum(r.unknown_effect for r in manifest) + sum(p.unknown_effect for p in manifest.structured_prompts.values())
               if manifest is not None else 0)
    return {
        "spec": str(ws.spec_path),
        "project": {"name": project.name if project else ws.desired.project.name, "id": project.id if project else None},
        "gallery": _gallery(ws),
        "datasets": datasets,
        "models": models,
        "counts": {
            "projects": 1 if project else 0,
            "datasets": sum(1 for d in datasets.values() if d["id"] is not None),
            "models": sum(1 for m in models.values() if m["id"] is not None),
            "images": sum(1 for r in done if r.kind == "image"),
            "videos": sum(1 for r in done if r.kind == "video"),
        },
        "billed": {"requests": billed, "unknown_effect": unknown},
    }


def _manifest(ws: Workspace, from_backend: Manifest | None) -> Manifest | None:
    generation = ws.desired.generation
    if generation is None:
        return None
    if from_backend is not None:
        return from_backend
    return load_generation_manifest(generation, ws.desired.models)


def _gallery(ws: Workspace) -> dict[str, Any]:
    generation = ws.desired.generation
    if generation is None:
        return {"path": None, "url": None, "exists": False}
    path = Path(generation.output_dir) / GALLERY_FILE
    url = ws.backend.where(f"outputs/{GALLERY_FILE}") if ws.backend is not None else None
    return {"path": str(path), "url": url, "exists": path.is_file()}


def _keys(desired: Iterable[str], records: list[Recorded], kind: str) -> list[str]:
    """The spec's keys, then keys the state still records that the spec dropped."""
    known = list(desired)
    return known + sorted({r.key for r in records if r.kind == kind and r.key and r.key not in known})


def _latest(records: list[Recorded], kind: str, key: str, wanted: str | None) -> tuple[Recorded | None, bool]:
    """The version of `key` the spec uses (named with its fingerprint, the highest revision: a
    retrained model is ``-r2``), else the newest recorded; and whether it is the spec's own."""
    base = model_base(key)
    mine = [r for r in records if r.kind == kind and r.key == key]
    own = parse_version_name(base, wanted) if wanted else None

    def revision(record: Recorded) -> int | None:
        parsed = parse_version_name(base, record.name)
        return parsed.revision if parsed is not None and own is not None and parsed.fingerprint == own.fingerprint else None

    current = [r for r in mine if revision(r) is not None]
    if current:
        return max(current, key=lambda r: (revision(r) or 0, r.id)), True
    return max(mine, key=lambda r: r.id, default=None), False


def _dataset(ws: Workspace, key: str, records: list[Recorded]) -> dict[str, Any]:
    dataset = ws.desired.datasets.get(key)
    wanted = dataset.remote_name if dataset is not None else None
    found, current = _latest(records, "dataset", key, wanted)
    return {"id": found.id if found else None, "name": found.name if found else wanted, "current": current}


def _model(ws: Workspace, key: str, records: list[Recorded]) -> dict[str, Any]:
    model = ws.desired.models.get(key)
    wanted = None
    if model is not None and model.dataset in ws.desired.datasets:
        wanted = model.remote_name(ws.desired.datasets[model.dataset])
    found, current = _latest(records, "model", key, wanted)
    name = found.name if found else wanted
    parsed = parse_version_name(model_base(key), name) if name else None
    version = None if parsed is None else parsed.fingerprint + (f"-r{parsed.revision}" if parsed.revision > 1 else "")
    return {"id": found.id if found else None, "name": name, "version": version,
            "revision": parsed.revision if parsed else None, "current": current}


# --- names: `bria-pipeline output SPEC NAME` ---------------------------------------------------------

NAMES = ("gallery", "project", "datasets", "dataset.KEY", "models", "model.KEY", "counts", "billed")


def names_of(document: dict[str, Any]) -> list[str]:
    """Every NAME `lookup` knows in `document`, fields included (model.KEY.id, counts.images, ...)."""
    out: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        out.append(prefix)
        if isinstance(value, dict):
            for field, inner in value.items():
                walk(f"{prefix}.{field}", inner)

    for name in ("gallery", "project", "counts", "billed"):
        walk(name, document[name])
    for plural, singular in (("datasets", "dataset"), ("models", "model")):
        out.append(plural)
        for key, value in document[plural].items():
            walk(f"{singular}.{key}", value)
    return out


def lookup(document: dict[str, Any], name: str) -> Any:
    """The value NAME stands for (see NAMES; a field of any of them: ``model.lucy-lora.id``).
    Raises KeyError for a name the document lacks."""
    head, _, rest = name.partition(".")
    if head in ("model", "dataset") and rest:
        group = document[head + "s"]
        key = max((k for k in group if rest == k or rest.startswith(k + ".")), key=len, default=None)
        if key is None:
            raise KeyError(name)
        value, rest = group[key], rest[len(key) + 1:]
    elif head in document and head != "spec":
        value = document[head]
    else:
        raise KeyError(name)
    for field in filter(None, rest.split(".")):
        if not isinstance(value, dict) or field not in value:
            raise KeyError(name)
        value = value[field]
    return value
