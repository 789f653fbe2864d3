"""`import`: adopt an existing remote resource as the spec's project, dataset.KEY or model.KEY."""

from __future__ import annotations

from ..api.client import AsyncBriaClient
from ..state.errors import StateError
from ..state.observe import image_contents, mark_imported
from ..state.store import StateStore
from .workspace import Workspace


async def import_(ws: Workspace, address: str, remote_id: int) -> str:
    """Record the resource in `.bria/` as the spec's `address`; returns what was adopted."""
    remote_id = int(remote_id)
    known = _addresses(ws)
    if address not in known:  # before the lock and before any request
        raise StateError(f"cannot import {address!r}: the spec has no such address",
                         hint=f"addresses of this spec: {', '.join(known)}")
    with ws.run_lock("import"):
        opened = ws.open_state(write_local=True)
        try:
            async with ws.connect() as client:
                adopted = await _adopt(ws, client, opened.store, address, remote_id)
        finally:
            opened.persist()  # where the state lives (a backend: one commit)
    if adopted is not None:
        return adopted
    raise StateError(f"cannot import {address!r}", hint=f"addresses of this spec: {', '.join(known)}")


def _addresses(ws: Workspace) -> list[str]:
    desired = ws.desired
    return ["project"] + [f"dataset.{k}" for k in desired.datasets] + [f"model.{k}" for k in desired.models]


async def _adopt(ws: Workspace, client: AsyncBriaClient, store: StateStore, address: str, remote_id: int) -> str | None:
    desired = ws.desired
    if address == "project":
        found = [p for p in await client.list_projects() if p.id == remote_id]
        if not found:
            raise StateError(f"no project with id {remote_id} in the organisation")
        store.record("project", remote_id, desired.project.name, save=False)
        mark_imported(store, "project", remote_id)
        store.save()
        return f"project {found[0].name!r} (id {remote_id}) is now this spec's project"
    kind, _, key = address.partition(".")
    project_id = store.project_id()
    if project_id is None:
        named = [p for p in await client.list_projects() if p.name == desired.project.name]
        if not named:
            raise StateError(
                f"no project is named {desired.project.name!r} yet: import {address} into a project this spec owns",
                hint=f"create the project with `bria-pipeline apply {ws.spec_path} --target project`, or adopt one "
                     f"by its id: bria-pipeline import {ws.spec_path} project ID",
            )
        if len(named) > 1:
            ids = ", ".join(str(p.id) for p in named)
            raise StateError(
                f"{len(named)} projects are named {desired.project.name!r} (ids {ids}): say which is this spec's first",
                hint=f"bria-pipeline import {ws.spec_path} project {named[0].id}   (or another of: {ids})",
            )
        project_id = named[0].id
        store.record("project", project_id, desired.project.name, save=False)
    if kind == "dataset" and key in desired.datasets:
        datasets = [d for d in await client.list_project_datasets(project_id) if d.id == remote_id]
        if not datasets:
            raise StateError(f"no dataset with id {remote_id} in project {project_id}")
        contents = await image_contents(client, remote_id)
        store.record("dataset", remote_id, desired.datasets[key].remote_name, key, save=False)
        mark_imported(store, "dataset", remote_id, contents)
        store.save()
        wanted = {i.content_tag for i in desired.datasets[key].images}
        same = len(wanted & set(contents.values()))
        return (f"dataset {datasets[0].name!r} (id {remote_id}) is now dataset.{key}; "
                f"{same} of its {len(contents)} images are the spec's by content")
    if kind == "model" and key in desired.models:
        models = [m for m in await client.list_project_models(project_id) if m.id == remote_id]
        if not models:
            raise StateError(f"no model with id {remote_id} in project {project_id}")
        model = desired.models[key]
        store.record("model", remote_id, model.remote_name(desired.dataset_of(model)), key)
        return f"model {models[0].name!r} (id {remote_id}) is now model.{key}"
    return None
