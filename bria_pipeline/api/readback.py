"""Read-back: after a creating POST failed ambiguously, find out whether the server acted.

Bria has no idempotency keys, so a POST whose answer was lost (timeout, dropped connection, 5xx
after the server committed) must not simply be sent again: that makes a second dataset, or pays
for a second training. Each such operation names a finder in the operation table; the session
calls it, and the finder lists what exists and matches the request by its unique name:

    create_project   a project with the same project_name
    create_dataset   a dataset with the same name in the same project
    clone_dataset    a dataset with the clone's name in the source's project
    upload_image     an image with the same image_name in the dataset
    create_model     a model with the same name on the same dataset
    upload_model     a model with the same model_name (in the same project, when given)
    start_training   the model's status has left Created
    stop_training    the model is Stopping or Stopped
    bulk_upload      the dataset has a bulk-upload status

One match: the server did act, and its resource is adopted as the answer. None: the request is
safe to send again. Several, or no name to match by: nobody can tell, AmbiguousResult.
Names must therefore be unique where the runner creates things; the runner's content-addressed
names are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bria_pipeline.api import errors as E
from bria_pipeline.api.operations import BY_NAME
from bria_pipeline.api.session import ApiSession, Call
from bria_pipeline.api.types import model_status


@dataclass(frozen=True)
class Outcome:
    found: bool
    absent: bool
    body: Any = None
    reason: str = ""
    candidates: tuple[Any, ...] = ()

    @classmethod
    def adopt(cls, body: Any, reason: str) -> Outcome:
        return cls(True, False, body, reason)

    @classmethod
    def nothing(cls, reason: str) -> Outcome:
        return cls(False, True, reason=reason)

    @classmethod
    def unknown(cls, reason: str, candidates: tuple[Any, ...] = ()) -> Outcome:
        return cls(False, False, reason=reason, candidates=candidates)


Finder = Callable[[ApiSession, Call], Awaitable[Outcome]]


def _body(call: Call) -> Mapping[str, Any]:
    return call.body if isinstance(call.body, Mapping) else {}


def _rows(answer: Any) -> list[Mapping[str, Any]]:
    if isinstance(answer, Mapping):
        lists = [v for v in answer.values() if isinstance(v, list)]
        answer = lists[0] if len(lists) == 1 else []
    return [row for row in answer or () if isinstance(row, Mapping)]


def _match(rows: list[Mapping[str, Any]], what: str, **want: Any) -> Outcome:
    hits = [r for r in rows if all(_same(r.get(k), v) for k, v in want.items())]
    label = ", ".join(f"{k}={v!r}" for k, v in want.items())
    if len(hits) == 1:
        return Outcome.adopt(hits[0], f"found {what} {label} (id {hits[0].get('id')})")
    if not hits:
        return Outcome.nothing(f"no {what} with {label}: nothing was created")
    ids = tuple(h.get("id") for h in hits)
    return Outcome.unknown(f"{len(hits)} {what}s with {label} (ids {list(ids)})", ids)


def _same(a: Any, b: Any) -> bool:
    return a == b or (a is not None and b is not None and str(a) == str(b))


async def _list(session: ApiSession, name: str, **path: Any) -> list[Mapping[str, Any]]:
    return _rows(await session.call(BY_NAME[name], path))


async def project_by_name(session: ApiSession, call: Call) -> Outcome:
    name = _body(call).get("project_name")
    if not name:
        return Outcome.unknown("the request has no project_name to find the project by")
    return _match(await _list(session, "list_projects"), "project", project_name=name)


async def dataset_by_name(session: ApiSession, call: Call) -> Outcome:
    body = _body(call)
    name, project_id = body.get("name"), body.get("project_id")
    if not name or project_id is None:
        return Outcome.unknown("the request has no name and project_id to find the dataset by")
    rows = await _list(session, "list_project_datasets", project_id=project_id)
    return _match(rows, "dataset", name=name)


async def clone_by_name(session: ApiSession, call: Call) -> Outcome:
    name = _body(call).get("name")
    if not name:
        return Outcome.unknown("the clone request has no name to find the clone by")
    source_id = call.path_params["dataset_id"]
    source = await session.call(BY_NAME["get_dataset"], {"dataset_id": source_id}, params={"max_images": 1})
    rows = await _list(session, "list_project_datasets", project_id=source["project_id"])
    rows = [r for r in rows if not _same(r.get("id"), source_id)]
    outcome = _match(rows, "dataset", name=name)
    if outcome.found:  # the clone's own answer carries its images: read them too
        full = await session.call(BY_NAME["get_dataset"], {"dataset_id": outcome.body["id"]})
        return Outcome.adopt(full, outcome.reason)
    return outcome


async def image_by_name(session: ApiSession, call: Call) -> Outcome:
    name = _body(call).get("image_name")
    if not name:
        return Outcome.unknown("the upload has no image_name to find the image by")
    rows = await _list(session, "list_images", dataset_id=call.path_params["dataset_id"])
    return _match(rows, "image", image_name=name)


async def model_by_name(session: ApiSession, call: Call) -> Outcome:
    body = _body(call)
    name, dataset_id = body.get("name"), body.get("dataset_id")
    if not name or dataset_id is None:
        return Outcome.unknown("the request has no name and dataset_id to find the model by")
    return _match(await _list(session, "list_models"), "model", name=name, dataset_id=dataset_id)


async def uploaded_model_by_name(session: ApiSession, call: Call) -> Outcome:
    body = _body(call)
    name = body.get("model_name")
    if not name:
        return Outcome.unknown("the upload has no model_name to find the model by")
    want: dict[str, Any] = {"name": name}
    if body.get("project_id") is not None:
        want["project_id"] = body["project_id"]
    return _match(await _list(session, "list_models"), "model", **want)


async def training_started(session: ApiSession, call: Call) -> Outcome:
    model = await session.call(BY_NAME["get_model"], call.path_params)
    status = model_status(model.get("status"))  # any case: "created" is Created too
    if status == "Created":
        return Outcome.nothing("the model is still Created: training did not start")
    return Outcome.adopt(model, f"the model's status is {status}: training did start")


async def training_stopped(session: ApiSession, call: Call) -> Outcome:
    model = await session.call(BY_NAME["get_model"], call.path_params)
    status = model_status(model.get("status"))
    if status in ("Stopping", "Stopped"):
        return Outcome.adopt(model, f"the model's status is {status}: the stop arrived")
    if status == "InProgress":
        return Outcome.nothing("the model is still InProgress: the stop did not arrive")
    return Outcome.unknown(f"the model's status is {status}")


async def bulk_upload_started(session: ApiSession, call: Call) -> Outcome:
    try:
        status = await session.call(BY_NAME["bulk_upload_status"], call.path_params)
    except E.NotFound:
        return Outcome.nothing("the dataset has no bulk upload: it did not start")
    if isinstance(status, Mapping) and status.get("status"):
        return Outcome.adopt(status, f"the dataset's bulk upload is {status['status']}")
    return Outcome.nothing("the dataset has no bulk upload: it did not start")


FINDERS: dict[str, Finder] = {
    "project_by_name": project_by_name,
    "dataset_by_name": dataset_by_name,
    "clone_by_name": clone_by_name,
    "image_by_name": image_by_name,
    "model_by_name": model_by_name,
    "uploaded_model_by_name": uploaded_model_by_name,
    "training_started": training_started,
    "training_stopped": training_stopped,
    "bulk_upload_started": bulk_upload_started,
}
