"""Which handler carries out each step type.

A handler is `async def handler(run: Run, step: SomeStep) -> Outcome`, registered next to its
body with `@handles(SomeStep)`. The plan layer declares everything else of a step type on its class
(plan/steps.py: tag, cost, concurrency, what it waits on) and cannot import this layer, so the
binding lives here, keyed by the step's type; `check_handled` (run when apply/executor.py is
imported) refuses a step type of the project that has no handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from ..plan.steps import STEP_TYPES, Step
from .context import Run
from .result import Outcome

Handler = Callable[[Run, Any], Awaitable[Outcome]]  # its second argument is one of the types it handles
S = TypeVar("S", bound=Step)
T = TypeVar("T", bound=Step)
R = TypeVar("R", bound=Outcome)

HANDLERS: dict[type[Step], Handler] = {}


# Typed per number of step types, so that mypy proves the handler takes the types it is registered
# for (a handler of two types takes either; one declared for another type is an error).
@overload
def handles(first: type[S], /) -> Callable[[Callable[[Run, S], Awaitable[R]]], Callable[[Run, S], Awaitable[R]]]: ...
@overload
def handles(first: type[S], second: type[T], /) -> Callable[[Callable[[Run, S | T], Awaitable[R]]],
                                                              Callable[[Run, S | T], Awaitable[R]]]: ...
def handles(*types: type[Step]) -> Callable[[Any], Any]:
    """Register the decorated function as the handler of `types` (each has exactly one)."""

    def register(handler: Handler) -> Handler:
        for cls in types:
            known = HANDLERS.get(cls)
            if known is not None and known is not handler:
                raise TypeError(f"step type {cls.__name__} has two handlers: {known.__qualname__} and {handler.__qualname__}")
            HANDLERS[cls] = handler
        return handler

    return register


def handler_for(step: Step) -> Handler | None:
    return HANDLERS.get(type(step))


def unhandled(package: str = "bria_pipeline.") -> list[str]:
    """The step types defined in `package` that are carried out but have no handler."""
    return sorted(cls.__qualname__ for cls in STEP_TYPES.values()
                  if cls.CARRIED_OUT and cls.__module__.startswith(package) and cls not in HANDLERS)


def check_handled() -> None:
    missing = unhandled()
    if missing:
        raise TypeError(f"step types without a handler: {', '.join(missing)} (register one with @handles)")
