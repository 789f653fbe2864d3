"""What the commands that talk to the API share: options, the Pipeline they run, request logs.

- `sandbox_flag`, `target_option`, `duration_option`: options used by several commands;
- `parse_duration`, `parse_rate`: ``10m`` / ``60/min`` as people write them;
- `make_pipeline(ctx, spec, spec_inputs, ...)`: a Pipeline with the global options applied, and
  with --sandbox the in-process sandbox handed in as its transport (`local_sandbox_transport`);
- `require_api(ctx, sandbox)`: fail once, before any spec runs, when no token is set;
- `run_pipeline(ctx, spec, spec_inputs, sandbox, work)`: one spec's Pipeline, used and closed;
- `SANDBOX_TIME`: the in-process sandbox's clock and the client's, when a program running the CLI
  in process (the test suite) hands them in: `with sandbox_time(clocks): main(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import httpx

from ..api.clock import Clock
from ..api.config import resolve_config
from ..api.stats import ApiEvent
from ..pipeline import Pipeline
from ..state.store import state_dir_for
from .durations import converter, parse_duration, parse_positive_duration, parse_rate, parse_share
from .main_group import diagnostics_of
from .spec_cmds import SpecInputs
from .terminal import Diagnostics

if TYPE_CHECKING:
    from ..sandbox.clock import Clock as SandboxClock

T = TypeVar("T")
SANDBOX_DB = "sandbox.sqlite"  # --sandbox: the emulator's database, in .bria/ beside the spec


@dataclass(frozen=True)
class SandboxTime:
    """The time --sandbox runs on: the in-process sandbox's clock, and the client's clock that waits
    on it. A program running the CLI in process hands in a manual one (a training then takes no wall
    time); without it, both are wall time."""

    sandbox: SandboxClock
    client: Clock


SANDBOX_TIME: ContextVar[SandboxTime | None] = ContextVar("bria_pipeline_sandbox_time", default=None)


@contextmanager
def sandbox_time(clocks: SandboxTime) -> Iterator[None]:
    """Commands run in process inside this block use `clocks` with --sandbox."""
    token = SANDBOX_TIME.set(clocks)
    try:
        yield
    finally:
        SANDBOX_TIME.reset(token)


sandbox_flag = click.option("--sandbox", "local_sandbox", is_flag=True, help="Same as the global --sandbox.")
target_option = click.option("--target", "targets", multiple=True, metavar="ADDR",
                             help="Limit to this address and what it depends on (repeatable), e.g. dataset.lucy.")
lock_timeout_option = click.option("--lock-timeout", callback=converter(parse_duration), metavar="DURATION",
                                   help="Wait this long for another run of the same spec to finish (default: fail at once).")
request_timeout_option = click.option("--timeout", "request_timeout", callback=converter(parse_positive_duration), metavar="DURATION",
                                      help="Give up on any one API request after this (30s, 2m), its retries included "
                                           "(default: the retry policy's own bound, about two minutes); also bounds "
                                           "every backend request (default 30s).")


def _shared(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """--share: this run's part of the organisation's --rate-limit (click parses it after --rate-limit)."""
    from ..api.pacing import shared_rate

    share = converter(parse_share)(ctx, param, value)
    rate = ctx.params.get("rate")
    if share is None:
        return None
    if rate is None:
        raise click.BadParameter("a share of what? give the organisation's limit too: --rate-limit 60/min --share 1/4",
                                 ctx=ctx, param=param)
    ctx.params["rate"] = shared_rate(rate, share)
    return share


def rate_limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--rate-limit N/min (the command receives `rate`, requests per minute) and --share PART."""
    command = click.option("--share", "rate_share", callback=_shared, expose_value=False, metavar="PART",
                           help="This run's part of --rate-limit, when several runs share the organisation's "
                                "limit (1/4, 0.25, 25%): --rate-limit 60/min --share 1/4 paces at 15/min.")(command)
    return click.option("--rate-limit", "rate", callback=converter(parse_rate), metavar="N/min", is_eager=True,
                        help="Pace requests under your plan's limit, e.g. 60/min (the organisation's whole limit; "
                             "see --share).")(command)


def root_obj(ctx: click.Context) -> Any:
    return ctx.find_root().obj


def diagnostics(ctx: click.Context) -> Diagnostics:
    return diagnostics_of(ctx)


def heartbeat_of(ctx: click.Context) -> float:
    """Seconds between heartbeat lines in logs (--heartbeat), 0 for none."""
    value = getattr(root_obj(ctx), "heartbeat", None)
    return 60.0 if value is None else float(value)


def uses_sandbox(ctx: click.Context, local_sandbox: bool) -> bool:
    return local_sandbox or bool(getattr(root_obj(ctx), "sandbox", False))


def require_api(ctx: click.Context, local_sandbox: bool) -> None:
    """Outside the sandbox, a token must be set: say so once (ConfigError, exit 1), not once per spec."""
    if not uses_sandbox(ctx, local_sandbox):
        resolve_config(getattr(root_obj(ctx), "api_url", None))


def make_pipeline(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, *, sandbox: bool, **kw: Any) -> Pipeline:
    obj = root_obj(ctx)
    on_event = request_logger(diagnostics(ctx)) if getattr(obj, "verbose", 0) >= 2 else None
    sandbox = uses_sandbox(ctx, sandbox)
    api_url = getattr(obj, "api_url", None)
    if sandbox and api_url is None and kw.get("transport") is None:
        kw["transport"] = local_sandbox_transport(ctx, spec)
        clocks = SANDBOX_TIME.get()
        if clocks is not None:
            kw.setdefault("clock", clocks.client)
    return Pipeline(
        spec,
        vars=spec_inputs.vars,
        var_files=spec_inputs.var_files,
        sandbox=sandbox,
        api_url=api_url,
        allow_outside=spec_inputs.allow_outside,
        on_event=on_event,
        backend=getattr(obj, "backend", None),  # --backend (backend_cmds.backend_option)
        no_backend=getattr(obj, "no_backend", False),  # --no-backend (the same)
        **kw,
    )


def local_sandbox_transport(ctx: click.Context, spec: Path) -> httpx.AsyncBaseTransport:
    """--sandbox: the emulator in process, persisted in .bria/sandbox.sqlite beside the spec. One
    per folder for the whole command (specs side by side share it), closed when the command ends."""
    from ..sandbox import LocalSandbox

    db = state_dir_for(Path(spec)).parent / SANDBOX_DB  # .bria/ checked: never a link
    sandboxes: dict[Path, LocalSandbox] = ctx.meta.setdefault("bria_pipeline.local_sandboxes", {})
    key = db.resolve()
    if key not in sandboxes:
        clocks = SANDBOX_TIME.get()
        sandboxes[key] = LocalSandbox(db) if clocks is None else LocalSandbox(db, clock=clocks.sandbox)
        ctx.call_on_close(sandboxes[key].close)
    return sandboxes[key].transport()


def run_pipeline(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, local_sandbox: bool,
                 work: Callable[[Pipeline], T], **kw: Any) -> tuple[Pipeline, T]:
    """Check the token, make the spec's Pipeline, `work(pipeline)`, and close it whatever happens."""
    require_api(ctx, local_sandbox)
    pipeline = make_pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox, **kw)
    try:
        return pipeline, work(pipeline)
    finally:
        pipeline.close()


def request_logger(diag: Diagnostics) -> Callable[[ApiEvent], None]:
    """-vv: one line per API request (never a header, so never the token)."""

    def log(event: ApiEvent) -> None:
        diag.line(f"  api: {event.describe()}", level="debug", event=event.kind, message=event.message or None,
                  operation=event.operation, method=event.method, path=event.path, status=event.status,
                  attempt=event.attempt, elapsed=event.elapsed)

    return log


def report_requests(ctx: click.Context, requests: Mapping[str, Any] | int, what: str, *, backend: int = 0) -> None:
    """-v: how many requests a run sent (a result's `requests`: a count, or counts by operation),
    and how many went to the backend (`Pipeline.backend_requests`)."""
    diag = diagnostics(ctx)
    if diag.verbose < 1:
        return
    stats: Mapping[str, Any] = {"total": requests, "mutating": 0} if isinstance(requests, int) else requests  # a count: reads only
    ops = ", ".join(f"{k} {v}" for k, v in sorted(stats.get("operations", {}).items()))
    diag.line(f"{what}: {stats.get('total', 0)} requests ({stats.get('mutating', 0)} mutating): {ops}",
              event="requests", message=what, total=stats.get("total", 0), mutating=stats.get("mutating", 0),
              operations=stats.get("operations", {}))
    if backend:
        diag.line(f"{what}: {backend} backend request(s)", event="backend_requests", message=what, total=backend)
