"""Remote changes made at most once: creating (intent first, read before re-sending) and deleting.

    intent written (fsynced) -> POST -> answer: id recorded, intent cleared

If the process dies between the first and the last arrow, the next run finds the intent. Observing
resolves it by listing (the name is deterministic); an intent observation could not match yet
because it is only seconds old is checked once more here, right before a request that could
duplicate it. A POST that failed ambiguously is read back by the client; if even that cannot
tell, the intent stays and the step fails, so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ..api.errors import AmbiguousResult, HttpError, NotFound
from .context import Run
from .errors import StepError


class Identified(Protocol):
    """A resource the API made: a project, a dataset, a model."""

    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=Identified)


async def create_once(
    run: Run,
    *,
    op: str,
    kind: str,
    name: str,
    address: str,
    key: str | None,
    parent_id: int | None,
    named: Callable[[], Awaitable[list[R]]],
    create: Callable[[], Awaitable[R]],
    discard: Callable[[int], Awaitable[object]],
) -> tuple[int, R | None, bool]:
    """Create `name` unless it exists; returns (id, the API object when this call made it, created).

    `named` lists everything named `name` where this is made: an intent left pending by an earlier
    run is resolved by it when it finds exactly one. A runner that shares no state with this one
    (another checkout without the backend) may have made the same thing since the plan: the one
    with the lowest id stays. A runner whose creation is a later twin deletes its own (`discard`;
    nothing is in it yet) and carries on with the first, so both runners fill and train one
    dataset, one model. Ids grow with creation, so the later creator always sees the earlier twin,
    and no runner deletes another's."""
    if run.store.pending(op=op, name=name):
        hits = await named()
        if len(hits) == 1:
            found = hits[0]
            for intent in run.store.pending(op=op, name=name):
                run.store.finish(intent, id=found.id, name=name)
            return found.id, None, False
    intent = run.store.begin(op, kind=kind, name=name, address=address, key=key, parent_id=parent_id)
    try:
        made = await create()
    except AmbiguousResult as exc:
        raise StepError(
            f"{op} {name}: the service may or may not have done it, and reading back could not tell",
            hint="run `bria-pipeline refresh SPEC`, check the Console, then apply again (the intent is kept)",
        ) from exc
    except HttpError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            run.store.abandon(intent)  # refused before any side effect
        raise
    run.store.finish(intent, id=made.id, name=name)
    first = min((t.id for t in await named()), default=made.id)
    if first < made.id:
        try:
            await discard(made.id)
        except NotFound:
            pass
        run.store.forget(kind, made.id, save=False)
        run.store.record(kind, first, name, key)
        return first, None, False
    return made.id, made, True


async def delete_once(run: Run, kind: str, remote_id: int, label: str, delete: Callable[[], Awaitable[Any]]) -> str:
    """Delete a resource this spec owns and forget its record; one already gone counts as deleted."""
    try:
        await delete()
        message = f"deleted {label}"
    except NotFound:
        message = f"{label} was already gone"
    run.store.forget(kind, remote_id)
    return message
