"""Steps on the project: create, update in place, replace (ip_type/ip_medium changed), delete."""

from __future__ import annotations

from ..api.errors import NotFound
from ..api.types import Project
from ..plan.steps import CreateProject, DeleteProject, ReplaceProject, UpdateProject
from .context import Run
from .handlers import handles
from .once import create_once, delete_once


@handles(CreateProject)
async def create_project(run: Run, step: CreateProject) -> str:
    body, name = dict(step.body), step.name

    async def named() -> list[Project]:
        return [p for p in await run.client.list_projects() if p.name == name]

    project_id, _, created = await create_once(
        run,
        op="create_project",
        kind="project",
        name=name,
        address="project",
        key=None,
        parent_id=None,
        named=named,
        create=lambda: run.client.create_project(**body),
        discard=run.client.delete_project,
    )
    run.index.ids["project"] = project_id
    return f"{'created' if created else 'found'} project {name} (id {project_id})"


@handles(UpdateProject)
async def update_project(run: Run, step: UpdateProject) -> str:
    project_id = run.index.id("project")
    body = step.changes
    await run.client.update_project(project_id, **body)
    if "project_name" in body:
        run.store.record("project", project_id, body["project_name"])
    return f"updated {', '.join(body)}"


@handles(ReplaceProject)
async def replace_project(run: Run, step: ReplaceProject) -> str:
    old_id = step.old_id
    if step.old == "delete":
        try:
            await run.client.delete_project(old_id)
        except NotFound:
            pass
        fate = f"deleted the old project (id {old_id})"
    else:
        await run.client.update_project(old_id, project_name=step.rename_to)
        fate = f"renamed the old project (id {old_id}) to {step.rename_to!r}"
    run.store.reset_records([])
    run.store.save()
    message = await create_project(run, step)
    return f"{fate}; {message}"


@handles(DeleteProject)
async def delete_project(run: Run, step: DeleteProject) -> str:
    project_id = step.project_id
    return await delete_once(run, "project", project_id, f"project {project_id}", lambda: run.client.delete_project(project_id))
