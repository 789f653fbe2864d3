"""The Python API: load a spec, plan, apply, destroy, show. The CLI is a thin layer over this.

    from bria_pipeline.pipeline import Pipeline
    from bria_pipeline.sandbox import LocalSandbox

    with LocalSandbox("examples/lucy/.bria/sandbox.sqlite") as sandbox:   # or api_url=..., token=...
        p = Pipeline("examples/lucy/spec.yaml", sandbox=True, transport=sandbox.transport())
        plan = p.plan()
        print(plan.summary_line())
        result = p.apply(plan, auto_approve=True, on_progress=print)
        print(result.summary(), p.outputs()[:3])
        print(p.results()["models"])  # ids and versions, gallery, counts: from state, no request
        p.apply(p.plan(replace=["model.lucy-lora"]), auto_approve=True)   # trained again: -r2
        p.destroy(p.plan_destroy(), auto_approve=True)                    # a destroy plan, reviewed first
        print(p.review())            # the dataset review sheet (HTML), before or after the upload

Every method has an async twin (`aplan`, `aapply`, `adestroy`, `ashow`, `arefresh`, `aimport_`, `areview`)
for code that already runs an event loop (notebooks: `await p.aapply()`).

Each method is one command of `bria_pipeline.commands` run on the pipeline's `Workspace` (the spec
and the files beside it: ``<spec>.lock.yaml``, pins, committed; ``.bria/<spec>/``, state and the
apply lock, not committed; or with a backend, s3://... or file://..., the state, the output
manifest, the outputs and the apply lock there). What a command sent is in its result:
`plan.requests`, `result.requests`, ``show()["requests"]``, `refresh().requests`,
`review_datasets().requests`; `backend_requests` counts the last command's backend requests.

The core never builds the sandbox: with ``sandbox=True`` hand it in as `transport` (the CLI's
``--sandbox`` does so with `sandbox.LocalSandbox`, persisted in ``.bria/sandbox.sqlite`` beside the spec),
or give the `api_url` of a served one.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from .api.client import AsyncBriaClient
from .api.clock import Clock
from .api.config import URL_ENVS, is_loopback
from .api.errors import ConfigError
from .api.stats import EventHandler
from .apply.errors import ApplyInterrupted
from .apply.progress import ProgressCallback
from .apply.result import ApplyResult
from .commands import apply as apply_command
from .commands import backend as backend_command
from .commands import destroy as destroy_command
from .commands import import_ as import_command
from .commands import output as output_command
from .commands import outputs as outputs_command
from .commands import plan as plan_command
from .commands import refresh as refresh_command
from .commands import review as review_command
from .commands import show as show_command
from .commands.operation import PlanDecision
from .commands.plan import load_plan_file, save_plan_file
from .commands.review import DatasetReviews
from .commands.workspace import SpecFiles, Workspace
from .lockfile import load_lock
from .model import Desired
from .plan.document import Plan
from .state.backend import Backend, resolve_backend_url
from .state.observed import Observed

if TYPE_CHECKING:  # loaded where used: a run without a backend never imports them
    from .commands.state import Shown
    from .state.locate import LocatingCopy

__all__ = ["Pipeline", "load_plan_file", "save_plan_file"]


class Pipeline:
    """One spec and the API it talks to."""

    def __init__(
        self,
        spec_path: str | Path,
        vars: Mapping[str, Any] | None = None,
        var_files: Iterable[str | Path] | None = None,
        sandbox: bool = False,
        api_url: str | None = None,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        concurrency: int = 4,
        rate_limit_per_minute: float | None = None,
        lock_timeout: float = 0.0,
        on_event: EventHandler | None = None,
        allow_outside: bool = False,
        backend: str | None = None,
        request_timeout: float | None = None,
        no_backend: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.spec_path = Path(spec_path)
        self.vars = dict(vars or {})
        self.var_files = list(var_files or ())
        self.sandbox = sandbox
        self.api_url = api_url
        self._token = token
        self.transport = transport
        self.concurrency = concurrency
        self.rate_limit_per_minute = rate_limit_per_minute
        self.lock_timeout = lock_timeout
        self.request_timeout = request_timeout  # seconds one API call may take, retries included
        self.on_event = on_event
        self.allow_outside = allow_outside
        self.backend_flag = backend
        self.no_backend = no_backend  # work locally, even when the spec, the environment or the lock file names a backend
        self.clock = clock  # the client's waits (None: wall time); a sandbox on a ManualClock is driven by one
        self._backend: Backend | None = None
        self.backend_requests = 0  # requests the last command sent to the backend
        self._workspace: Workspace | None = None

    def __repr__(self) -> str:
        return f"Pipeline({str(self.spec_path)!r}, sandbox={self.sandbox}, api_url={self.api_url!r})"

    # --- the spec and the files beside it -------------------------------------------------------

    def validate(self) -> Desired:
        """Load and validate the spec (raises spec.SpecErrors listing every problem)."""
        from .spec import load_spec

        desired = load_spec(self.spec_path, vars=self.vars, var_files=self.var_files, allow_outside=self.allow_outside)
        self._workspace = Workspace(
            self.spec_path, desired, self.client, self.validate, local_api=self._local_api(),
            staging_transport=self.transport if self.sandbox else None, concurrency=self.concurrency,
            lock_timeout=self.lock_timeout, rate_limit_per_minute=self.rate_limit_per_minute,
            backend=self._backend_for(self._backend_url(desired)),
            no_backend=self.no_backend, sandbox=self.sandbox,
        )
        return desired

    @property
    def workspace(self) -> Workspace:
        """The spec (validated on first use) and the files beside it, shared by every command."""
        if self._workspace is None:
            self.validate()
        assert self._workspace is not None
        return self._workspace

    @property
    def desired(self) -> Desired:
        return self.workspace.desired

    @property
    def files(self) -> SpecFiles:
        """Where the lock file (`lock_path`), `.bria/<spec>/` (`state_dir`) and the review sheet are."""
        return SpecFiles(self.spec_path)

    @property
    def state_dir(self) -> Path:
        return self.files.state_dir

    @property
    def lock_path(self) -> Path:
        return self.files.lock_path

    @property
    def review_path(self) -> Path:
        """Where `review()` writes the sheet by default: ``.bria/<spec>/review.html``."""
        return self.files.review_path

    # --- where state lives ------------------------------------------------------------------------

    @property
    def backend_url(self) -> str | None:
        """`backend=` (the --backend flag), else BRIA_PIPELINE_BACKEND, else the spec's `backend.url`
        (not with the sandbox); None with `no_backend`."""
        return self._backend_url(self.desired)

    def _backend_url(self, desired: Desired) -> str | None:
        """None with `no_backend`; with the sandbox (an organisation of its own) the spec's
        `backend:` is not used, only `backend=` or the environment."""
        if self.no_backend:
            return None
        return resolve_backend_url(self.backend_flag, None if self.sandbox else desired.backend_url)

    def backend(self) -> Backend | None:
        return self.workspace.backend

    def _backend_for(self, url: str | None) -> Backend | None:
        if url is None:
            return None
        if self._backend is None or self._backend.url != url:
            self._backend = Backend.for_spec(self.spec_path, url, timeout=self.request_timeout)
        return self._backend

    def working_copy(self) -> LocatingCopy:
        return self.workspace.working_copy()

    @contextmanager
    def _command(self) -> Iterator[Workspace]:
        """The workspace for one command; what it sends to the backend is counted in `backend_requests`.

        The lock file is read before the spec is first validated, so one that cannot be read (damaged,
        a link out of the spec's folder) is named as itself rather than as a problem in the spec."""
        if self._workspace is None:
            load_lock(self.lock_path)
        ws = self.workspace
        before = ws.backend_requests()
        try:
            yield ws
        finally:
            self.backend_requests = ws.backend_requests() - before

    def pull(self) -> tuple[int, int]:
        """Fetch every output (verified by sha256), the thumbnails and the gallery from the backend
        into output_dir, and the state into .bria/. Returns (fetched, already there). No API request."""
        with self._command() as ws:
            return backend_command.pull(ws)

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        """Release the backend lock if `lock_id` holds it; returns the holder it named."""
        with self._command() as ws:
            return backend_command.force_unlock(ws, lock_id)

    def state_push(self) -> str:
        """Move local state and outputs into the backend: idempotent, resumable, verified by hash."""
        with self._command() as ws:
            return backend_command.state_push(ws)

    def state_show(self) -> Shown:
        """Where the spec's state is (found by its lineage) and what it holds. No API request."""
        from .commands import state as state_command

        with self._command() as ws:
            return state_command.show(ws)

    def state_mv(self, source: str) -> tuple[str, str]:
        """Make the backend's state at `source` (a key, or a former spec path) this spec's. No API request."""
        from .commands import state as state_command

        with self._command() as ws:
            return state_command.mv(ws, source)

    def state_rm(self) -> list[str]:
        """Stop using the spec's state (nothing is deleted: see commands/state.py). No API request."""
        from .commands import state as state_command

        with self._command() as ws:
            return state_command.rm(ws)

    # --- the client ------------------------------------------------------------------------------

    @property
    def effective_api_url(self) -> str | None:
        """The API root this pipeline talks to: `api_url`, else BRIA_API_URL / BRIA_BASE_URL (as the
        client decides it), so the variable means exactly what --api-url means; None: the default."""
        return self.api_url or next((os.environ[name] for name in URL_ENVS if os.environ.get(name)), None)

    def _local_api(self) -> bool:
        """The sandbox, or an API on this machine (a served sandbox): waits take seconds there."""
        if self.sandbox:
            return True
        url = self.effective_api_url
        if not url:
            return False
        host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
        return is_loopback(host)

    def client(self) -> AsyncBriaClient:
        """A new async client for one run (the token never leaves it)."""
        if self.sandbox and self.transport is None and self.api_url is None:
            raise ConfigError(
                "sandbox=True needs the sandbox handed in: nothing to send requests to",
                hint="pass transport=LocalSandbox(DB).transport() (from bria_pipeline.sandbox import LocalSandbox), "
                     "or the api_url of a served sandbox (bria-pipeline sandbox serve)",
            )
        return AsyncBriaClient(self.api_url, self._token, **self._client_options())

    def _client_options(self) -> dict[str, Any]:
        """The client's options for a run, in one place."""
        return dict(
            transport=self.transport,
            sandbox=self.sandbox,
            max_concurrency=max(self.concurrency, 1),
            rate_limit_per_minute=self.rate_limit_per_minute,
            on_event=self.on_event,
            call_timeout=self.request_timeout,
            clock=self.clock,
        )

    def close(self) -> None:
        """Nothing stays open between commands (each opens and closes its client and files); a
        sandbox handed in is closed by whoever made it. Kept so callers can close what they make."""

    # --- the commands ----------------------------------------------------------------------------

    async def aplan(self, *, prune: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
        """What apply would do. Reads only: list calls, no state written. `replace`: addresses made
        again although up to date (a model trained again as a new version, an output generated again)."""
        with self._command() as ws:
            return await plan_command.plan(ws, prune=prune, targets=targets, replace=replace)

    def plan(self, *, prune: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
        return _run(self.aplan(prune=prune, targets=targets, replace=replace))

    async def aplan_destroy(self) -> Plan:
        with self._command() as ws:
            return await plan_command.plan_destroy(ws)

    def plan_destroy(self) -> Plan:
        return _run(self.aplan_destroy())

    async def aapply(
        self,
        plan: Plan | None = None,
        *,
        auto_approve: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        prune: bool = False,
        targets: Iterable[str] = (),
        replace: Iterable[str] = (),
        on_progress: ProgressCallback | None = None,
        on_plan: PlanDecision | None = None,
    ) -> ApplyResult:
        """Carry out `plan` (a saved one is refused when stale), or plan afresh and carry that out.

        `on_plan(plan)` is called with the plan before anything is sent:
        False cancels, True approves everything, None goes on without approving. Actions that
        delete or supersede trained work need `auto_approve=True` or an `on_plan` returning True.
        """
        with self._command() as ws:
            return await apply_command.carry_out(ws, "apply", plan, auto_approve=auto_approve, wait=wait,
                                                 timeout=timeout, prune=prune, targets=tuple(targets),
                                                 replace=tuple(replace), on_progress=on_progress, on_plan=on_plan)

    def apply(self, plan: Plan | None = None, **kw: Any) -> ApplyResult:
        return _run(self.aapply(plan, **kw))

    async def adestroy(self, plan: Plan | None = None, *, auto_approve: bool = False,
                       on_progress: ProgressCallback | None = None, on_plan: PlanDecision | None = None,
                       timeout: float | None = None) -> ApplyResult:
        """Delete what this spec owns: stop trainings, models, datasets, then the project if empty.
        `plan`: a destroy plan made earlier (`plan_destroy`, or saved), refused when stale."""
        with self._command() as ws:
            return await destroy_command.destroy(ws, plan, auto_approve=auto_approve, on_progress=on_progress,
                                                 on_plan=on_plan, timeout=timeout)

    def destroy(self, plan: Plan | None = None, **kw: Any) -> ApplyResult:
        return _run(self.adestroy(plan, **kw))

    async def ashow(self) -> dict[str, Any]:
        """Every resource this spec owns: ids, status, training progress, checkpoints, counts."""
        with self._command() as ws:
            return await show_command.show(ws)

    def show(self) -> dict[str, Any]:
        return _run(self.ashow())

    def results(self) -> dict[str, Any]:
        """What the spec's runs produced (gallery, ids and versions, counts, billed requests), from
        its state and output manifest: `commands.output`. No API request."""
        with self._command() as ws:
            return output_command.results(ws)

    async def arefresh(self) -> Observed:
        """Rebuild `.bria/` from the remote: records of everything the spec owns, intents resolved."""
        with self._command() as ws:
            return await refresh_command.refresh(ws)

    def refresh(self) -> Observed:
        return _run(self.arefresh())

    async def aimport_(self, address: str, remote_id: int) -> str:
        """Adopt an existing remote resource as the spec's `address` (project, dataset.KEY, model.KEY)."""
        with self._command() as ws:
            return await import_command.import_(ws, address, remote_id)

    def import_(self, address: str, remote_id: int) -> str:
        return _run(self.aimport_(address, remote_id))

    async def areview_datasets(self) -> DatasetReviews:
        """Each dataset of the spec as the review sheet shows it (a sequence of DatasetReview, with
        the `requests` reading them cost)."""
        with self._command() as ws:
            return await review_command.review_datasets(ws)

    def review_datasets(self) -> DatasetReviews:
        return _run(self.areview_datasets())

    def write_review(self, reviews: Iterable[Any], out: str | Path | None = None) -> Path:
        """Write `reviews` as the review sheet (HTML, opens from disk) to `out` or `review_path`."""
        return review_command.write_review(self.workspace, list(reviews), out)

    async def areview(self, out: str | Path | None = None) -> Path:
        """Observe, then write the dataset review sheet; returns its path."""
        return self.write_review(await self.areview_datasets(), out)

    def review(self, out: str | Path | None = None) -> Path:
        return _run(self.areview(out))

    def review_model_parameters(self) -> dict[str, dict[str, Any]]:
        """Remote model name -> training parameters of every model the project holds (one observation)."""

        async def read() -> dict[str, dict[str, Any]]:
            with self._command() as ws:
                return await review_command.model_parameters(ws)

        return _run(read())

    def outputs(self) -> list[dict[str, Any]]:
        """The generation outputs in the manifest: key, file (absolute), prompt, seed, model, status."""
        return outputs_command.outputs(self.workspace)


_INTERRUPTED = object()


def _run(coro: Any) -> Any:
    """Run a coroutine to completion; Ctrl-C becomes ApplyInterrupted (state is saved as it goes).

    Ctrl-C cancels the work, and the loop then ends normally, so everything started on it
    (worker threads of an in-process sandbox included) is shut down before the error is raised.
    """

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(coro)
        interrupted = False

        def on_sigint() -> None:
            nonlocal interrupted
            interrupted = True
            work.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            installed = False
        try:
            return await work
        except asyncio.CancelledError:
            if interrupted:
                return _INTERRUPTED
            raise
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGINT)

    try:
        result = asyncio.run(main())
    except KeyboardInterrupt:
        result = _INTERRUPTED
    if result is _INTERRUPTED:
        raise ApplyInterrupted("interrupted: every finished step is recorded")
    return result
