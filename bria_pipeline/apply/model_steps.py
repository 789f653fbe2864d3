"""Steps on models: create, update in place, start training (billed) and wait, stop and delete."""

from __future__ import annotations

from .. import addresses
from ..api import polling
from ..api.errors import Conflict, JobFailed, NotFound, WaitTimeout
from ..api.types import Model
from ..plan.steps import CreateModel, DeleteModel, StartTraining, UpdateModel, WaitTraining
from .context import Run
from .dataset_steps import check_images
from .handlers import handles
from .once import create_once, delete_once
from .errors import StepError, StillRunning

TRAINING_WAIT = 12 * 3600.0


@handles(CreateModel)
async def create_model(run: Run, step: CreateModel) -> str:
    key, name = step.model, step.name
    dataset_id = run.index.id(addresses.dataset(step.dataset))
    project_id = run.index.id("project")

    async def named() -> list[Model]:
        return [m for m in await run.client.list_project_models(project_id) if m.name == name and m.dataset_id == dataset_id]

    model_id, _, created = await create_once(
        run,
        op="create_model",
        kind="model",
        name=name,
        address=run.address,
        key=key,
        parent_id=dataset_id,
        named=named,
        create=lambda: run.client.create_model(
            name, dataset_id, training_mode=step.training_mode, description=step.description
        ),
        discard=run.client.delete_model,
    )
    run.index.ids[addresses.model(key)] = model_id
    return f"{'created' if created else 'found'} model {name} (id {model_id})"


@handles(UpdateModel)
async def update_model(run: Run, step: UpdateModel) -> str:
    key, body = step.model, step.changes
    model_id = run.index.id(addresses.model(key))
    await run.client.update_model(model_id, **body)
    if "name" in body:
        run.store.record("model", model_id, body["name"], key)
    return f"updated {', '.join(body)}"


@handles(StartTraining)
async def start_training(run: Run, step: StartTraining) -> str:
    key = step.model
    model_id = run.index.id(addresses.model(key))
    model = await run.client.get_model(model_id)
    if model.status not in (None, "Created"):  # started since the plan was made (another run)
        run.report("advance", run.address, f"training {model.status} (started by another run)", 0, None)
        return await wait_training(run, step)
    dataset_key = run.desired.models[key].dataset
    await check_images(run, dataset_key, before=f"the training of model {model_id}", remove_copies=False,
                       dataset_id=model.dataset_id or run.index.id(addresses.dataset(dataset_key)))
    intent = run.store.begin("start_training", kind="model", name=str(model_id), address=run.address, key=key, parent_id=model_id)
    try:
        await run.client.start_training(model_id, step.params.as_body() or None)
    except Conflict:
        model = await run.client.get_model(model_id)
        if model.status == "Created":
            raise
    run.store.finish(intent)
    run.report("advance", run.address, "training started", 0, None)
    return await wait_training(run, step)


async def wait_training(run: Run, step: StartTraining | WaitTraining) -> str:
    """Wait for a training to finish: WaitTraining's handler, and the end of StartTraining's."""
    key = step.model
    model_id = run.index.id(addresses.model(key))
    if not run.options.wait:
        raise StillRunning(f"training in progress (model id {model_id}); the next apply picks it up")
    try:
        model = await run.client.wait_for_training(
            model_id, on_progress=run.waiting(run.address), **run.options.wait_kw(TRAINING_WAIT)
        )
    except JobFailed as exc:
        raise StepError(
            f"the training of model {model_id} ended with status {exc.job_status}",
            hint="a stopped or failed training cannot be resumed: the next plan makes a new model version",
        ) from exc
    except WaitTimeout as exc:
        raise StillRunning(f"training still in progress after the --timeout (model id {model_id}); the next apply picks it up") from exc
    return f"trained ({len(model.checkpoint_steps)} checkpoints)"


handles(WaitTraining)(wait_training)  # registered, keeping the wider signature start_training calls it with


@handles(DeleteModel)
async def delete_model(run: Run, step: DeleteModel) -> str:
    model_id = step.model_id
    if step.stop_first:
        try:
            await run.client.stop_training(model_id)
        except (Conflict, NotFound):
            pass
        await _until_stopped(run, model_id)
    return await delete_once(run, "model", model_id, f"model {step.name}", lambda: run.client.delete_model(model_id))


async def _until_stopped(run: Run, model_id: int) -> None:
    def look(model: Model) -> polling.Look:
        return polling.Look(model.status not in ("InProgress", "Stopping"), None, None, f"training {model.status}")

    try:
        await polling.poll(
            run.client.session.clock,
            f"model {model_id} to stop",
            lambda: run.client.get_model(model_id),
            look,
            on_progress=run.waiting(run.address),
            **run.options.wait_kw(600.0, interval=min(run.options.poll_interval, 1.0)),
        )
    except NotFound:
        return
