"""The Python API: load a spec, plan, apply, destroy, show. The CLI is a thin layer over this.

    from bria_pipeline.pipeline import Pipeline

    p = Pipeline("examples/lucy/spec.yaml", sandbox=True)
    plan = p.plan()
    print(plan.summary_line())
    result = p.apply(plan, auto_approve=True, on_progress=print)
    print(result.summary(), p.outputs()[:3])
    print(p.review())            # the dataset review sheet (HTML), before or after the upload

Every method has an async twin (`aplan`, `aapply`, `adestroy`, `ashow`, `arefresh`, `aimport_`, `areview`)
for code that already runs an event loop (notebooks: `await p.aapply()`).

Local files beside the spec: ``<spec>.lock.yaml`` (pins, committed) and ``.bria/<spec>/``
(state cache and the apply lock; not committed). With ``sandbox=True`` the API is the built-in
emulator, in process, persisted in ``.bria/sandbox.sqlite`` beside the spec.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .api.client import AsyncBriaClient
from .api.config import URL_ENVS, is_loopback
from .api.stats import EventHandler
from .apply.context import ApplyOptions, RemoteIndex, Run
from .apply.errors import ApplyInterrupted, ApprovalRequired
from .apply.progress import ProgressCallback
from .apply.executor import execute
from .apply.file_check import stale_images
from .apply.result import ApplyResult, StepResult
from .state.manifest import Manifest, load_generation_manifest
from .reports.review import DatasetReview, ReviewImage, write_review_sheet
from .lockfile import Lock, caption_key, load_lock, lock_path_for, save_lock
from .model import Desired, DesiredDataset
from .plan.context import same_caption
from .plan.document import Plan, check_fresh
from .plan.errors import PlanError, PlanFileError, StalePlanError
from .plan.planner import plan as make_plan
from .plan.planner import plan_destroy
from .plan.steps import GENERATION_STEPS, BulkUpload, DeleteOutput, RestoreOutput
from .state import lineage
from .state.backend import Backend, backend_key, resolve_backend_url, spec_identity
from .state.errors import StateError
from .state.lock import StateLock
from .state.observe import image_contents, mark_imported, observe, record_owned
from .state.observed import Observed, ObservedDataset, ObservedImage
from .reports.show import describe_state
from .state.store import StateStore, state_dir_for

SANDBOX_DB = "sandbox.sqlite"
FAST_POLL = (0.2, 1.0)  # against the sandbox or a local URL: waits are seconds, not hours


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
        sandbox_options: Mapping[str, Any] | None = None,
        backend: str | None = None,
        request_timeout: float | None = None,
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
        self.sandbox_options = dict(sandbox_options or {})
        self._sandbox_app: Any = None
        self.backend_flag = backend
        self._backend: Backend | None = None
        self.backend_requests = 0  # requests the last run sent to the backend
        self._desired: Desired | None = None
        self.last_requests: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Pipeline({str(self.spec_path)!r}, sandbox={self.sandbox}, api_url={self.api_url!r})"

    # --- files beside the spec -------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.spec_path)

    @property
    def lock_path(self) -> Path:
        return lock_path_for(self.spec_path)

    @property
    def sandbox_db(self) -> Path:
        return state_dir_for(self.spec_path).parent / SANDBOX_DB  # .bria/ checked: never a link

    # --- where state lives ------------------------------------------------------------------------

    @property
    def backend_url(self) -> str | None:
        """`backend=` (the --backend flag), else BRIA_PIPELINE_BACKEND, else the spec's `backend.url`."""
        return resolve_backend_url(self.backend_flag, self.desired.backend_url)

    def backend(self) -> Backend | None:
        url = self.backend_url
        if url is None:
            return None
        if self._backend is None or self._backend.url != url:
            self._backend = Backend.for_spec(self.spec_path, url)
        return self._backend

    def working_copy(self) -> Any:
        from .state.working_copy import WorkingCopy

        backend = self.backend()
        assert backend is not None
        generation = self.desired.generation
        return WorkingCopy(backend, self.state_dir / "state.json", generation.output_dir if generation else None)

    def _open_state(self, *, write_local: bool, check: bool = True) -> tuple[StateStore, Any, Any]:
        """(state, manifest or True to load it locally, working copy or None), lineage checked.
        No API request is sent before this returns."""
        backend = self.backend()
        copy = None
        if backend is None:
            store, manifest = StateStore.for_spec(self.spec_path), True
        else:
            copy = self.working_copy()
            before = backend.requests
            opened = copy.open(write_local=write_local)
            self.backend_requests = backend.requests - before
            store, manifest = opened.store, (opened.manifest if opened.manifest is not None else True)
        if check:
            where = backend.where("state.json") if backend is not None else store.path
            lineage.check(store, self.desired, spec_identity(self.spec_path), backend.key if backend else None, where=where,
                          spec_arg=str(self.spec_path))
        return store, manifest, copy

    def _ci_warning(self, plan: Plan) -> Plan:
        """In CI without a backend: say that nothing outlives the runner, and what that may cost."""
        import os

        if not os.environ.get("CI") or self.backend_url is not None:
            return plan
        billed = sum(1 for a in plan.actions if a.is_change and a.billed and isinstance(a.step, GENERATION_STEPS))
        note = ("WARNING: running in CI (CI is set) with no backend: state and generated outputs stay on this "
                "runner and are lost with it. "
                + (f"{billed} billed output(s) in this plan cannot be told apart from outputs an earlier run already "
                   "paid for, and would be paid again. " if billed else "")
                + "Set `backend: {url: s3://...}` in the spec, --backend URL or BRIA_PIPELINE_BACKEND.")
        return dataclasses.replace(plan, notes=(note, *plan.notes))

    # --- the spec --------------------------------------------------------------------------------

    def validate(self) -> Desired:
        """Load and validate the spec (raises spec.SpecErrors listing every problem)."""
        from .spec import load_spec

        self._desired = load_spec(
            self.spec_path,
            vars=self.vars,
            var_files=self.var_files,
            allow_outside=self.allow_outside,
        )
        return self._desired

    @property
    def desired(self) -> Desired:
        return self._desired if self._desired is not None else self.validate()

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

    def _sandbox_transport(self) -> httpx.AsyncBaseTransport:
        if self._sandbox_app is None:
            from .sandbox import create_app

            self.sandbox_db.parent.mkdir(parents=True, exist_ok=True)
            self._sandbox_app = create_app(self.sandbox_db, **self.sandbox_options)
        return httpx.ASGITransport(app=self._sandbox_app)

    def client(self) -> AsyncBriaClient:
        """A new async client for one run (the token never leaves it)."""
        if self.sandbox and self.transport is None and self.api_url is None:
            return AsyncBriaClient(
                transport=self._sandbox_transport(),
                sandbox=True,
                max_concurrency=max(self.concurrency, 1),
                rate_limit_per_minute=self.rate_limit_per_minute,
                on_event=self.on_event,
                call_timeout=self.request_timeout,
            )
        return AsyncBriaClient(
            self.api_url,
            self._token,
            transport=self.transport,
            sandbox=self.sandbox,
            max_concurrency=max(self.concurrency, 1),
            rate_limit_per_minute=self.rate_limit_per_minute,
            on_event=self.on_event,
            call_timeout=self.request_timeout,
        )

    def close(self) -> None:
        if self._sandbox_app is not None:
            self._sandbox_app.state.sandbox.close()
            self._sandbox_app = None

    def _options(self, *, wait: bool, timeout: float | None, client: AsyncBriaClient) -> ApplyOptions:
        options = ApplyOptions(wait=wait, timeout=timeout, concurrency=self.concurrency, work_dir=self.state_dir / "zips")
        if self._local_api():
            options.poll_interval, options.max_poll_interval = FAST_POLL
        options.staging = self._staging_factory(client)
        return options

    def _staging_factory(self, client: AsyncBriaClient):
        def target(dataset):
            from .bulk.staging import target_for

            local = self._local_api()
            transport = None
            if self._sandbox_app is not None:
                transport = httpx.ASGITransport(app=self._sandbox_app)
            elif self.sandbox:
                transport = self.transport  # a sandbox handed in by the caller
            return target_for(
                dataset.staging,
                spec_dir=self.spec_path.parent,
                sandbox_url=client.api_url if local else None,
                transport=transport,
            )

        return target

    def _refuse_what_cannot_run(self, plan: Plan, client: AsyncBriaClient) -> None:
        """A step that cannot run against this API (a staging target that cannot work here, or
        whose library is missing) is refused with the plan, before anything is created."""
        from .bulk.errors import StagingError

        staging = self._staging_factory(client)
        for action in plan.actions:
            dataset = self.desired.datasets.get(action.step.dataset) if isinstance(action.step, BulkUpload) else None
            if dataset is None or not dataset.staging or dataset.zip_url:
                continue
            try:
                staging(dataset)
            except StagingError as exc:
                raise PlanError(f"{action.address} cannot run against {client.api_url}: {exc.message}; nothing was sent",
                                hint=exc.hint) from None
            program = (dataset.staging.upload_command or [""])[0] if dataset.staging.kind == "url_template" else ""
            if program and not _runnable(program, self.spec_path.parent):
                raise PlanError(f"{action.address} cannot run: the staging upload_command {program!r} is not found "
                                f"({'beside the spec' if '/' in program else 'on PATH'}); nothing was sent",
                                hint="install the uploader, or give its path in upload_command")

    # --- plan ------------------------------------------------------------------------------------

    async def _observe(self, client: AsyncBriaClient, store: StateStore, lock: Lock, *, images: bool = True,
                       manifest: Any = True) -> Observed:
        return await observe(client, self.desired, store, lock=lock, images=images, manifest=manifest)

    async def aplan(self, *, prune: bool = False, targets: Iterable[str] = ()) -> Plan:
        """What apply would do. Reads only: list calls (and a consistent read of the backend), no
        state written, no lock taken."""
        lock = load_lock(self.lock_path)
        store, manifest, _copy = self._open_state(write_local=False)
        async with self.client() as client:
            observed = await self._observe(client, store, lock, manifest=manifest)
            self.last_requests = client.stats.as_dict()
            plan = self._as_given(make_plan(self.desired, observed, lock, prune=prune, targets=tuple(targets)))
            self._refuse_what_cannot_run(plan, client)
        return self._ci_warning(plan)

    def _as_given(self, plan: Plan) -> Plan:
        """The plan names the spec as the caller did (a relative path stays relative in PR comments
        and saved plans)."""
        return dataclasses.replace(plan, spec_path=str(self.spec_path), rate_per_minute=self.rate_limit_per_minute)

    def plan(self, *, prune: bool = False, targets: Iterable[str] = ()) -> Plan:
        return _run(self.aplan(prune=prune, targets=targets))

    async def aplan_destroy(self) -> Plan:
        lock = load_lock(self.lock_path)
        store, manifest, _copy = self._open_state(write_local=False)
        async with self.client() as client:
            observed = await self._observe(client, store, lock, images=False, manifest=manifest)
            self.last_requests = client.stats.as_dict()
        return self._as_given(plan_destroy(self.desired, observed, lock))

    def plan_destroy(self) -> Plan:
        return _run(self.aplan_destroy())

    # --- apply -----------------------------------------------------------------------------------

    async def aapply(
        self,
        plan: Plan | None = None,
        *,
        auto_approve: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        prune: bool = False,
        targets: Iterable[str] = (),
        on_progress: ProgressCallback | None = None,
        on_plan: Any = None,
    ) -> ApplyResult:
        """Carry out `plan` (a saved one is refused when stale), or plan afresh and carry that out.

        `on_plan(plan)` is called with the plan before anything is sent:
        False cancels, True approves everything, None goes on without approving. Actions that
        delete or supersede trained work need `auto_approve=True` or an `on_plan` returning True.
        """
        return await self._carry_out("apply", plan, auto_approve=auto_approve, wait=wait, timeout=timeout, prune=prune,
                                     targets=tuple(targets), on_progress=on_progress, on_plan=on_plan)

    def apply(self, plan: Plan | None = None, **kw: Any) -> ApplyResult:
        return _run(self.aapply(plan, **kw))

    async def adestroy(self, *, auto_approve: bool = False, on_progress: ProgressCallback | None = None, on_plan: Any = None,
                       timeout: float | None = None) -> ApplyResult:
        """Delete what this spec owns: stop trainings, models, datasets, then the project if empty."""
        return await self._carry_out("destroy", None, auto_approve=auto_approve, wait=True, timeout=timeout, prune=False,
                                     targets=(), on_progress=on_progress, on_plan=on_plan)

    def destroy(self, **kw: Any) -> ApplyResult:
        return _run(self.adestroy(**kw))

    def _run_lock(self, command: str) -> Any:
        """The apply lock: in the backend when there is one (create-if-absent, refreshed), else the
        OS file lock in .bria/."""
        backend = self.backend()
        if backend is None:
            return StateLock(self.state_dir, timeout=self.lock_timeout, command=command, spec=str(self.spec_path))
        from .state.remote_lock import RemoteLock

        return RemoteLock(backend, command=command, spec=str(self.spec_path), timeout=self.lock_timeout)

    async def _carry_out(self, operation: str, saved: Plan | None, *, auto_approve: bool, wait: bool, timeout: float | None,
                         prune: bool, targets: tuple[str, ...], on_progress: ProgressCallback | None, on_plan: Any) -> ApplyResult:
        backend = self.backend()
        before = backend.requests if backend is not None else 0
        try:
            with self._run_lock(operation) as run_lock:
                result = await self._locked(operation, saved, run_lock, auto_approve=auto_approve, wait=wait,
                                            timeout=timeout, prune=prune, targets=targets, on_progress=on_progress,
                                            on_plan=on_plan)
        finally:
            if backend is not None:
                self.backend_requests = backend.requests - before
        if getattr(run_lock, "release_error", None):
            result.steps.append(StepResult("backend.lock", "failed", (
                f"the lock {run_lock.id} could not be released ({run_lock.release_error}); once the backend answers "
                f"again: bria-pipeline force-unlock {self.spec_path} {run_lock.id}")))
        if not result.cancelled:
            result.lock_written = True
        return result

    async def _locked(self, operation: str, saved: Plan | None, run_lock: Any, *, auto_approve: bool, wait: bool,
                      timeout: float | None, prune: bool, targets: tuple[str, ...], on_progress: ProgressCallback | None,
                      on_plan: Any) -> ApplyResult:
        desired = self.desired
        lock = load_lock(self.lock_path)
        store, manifest, copy = self._open_state(write_local=True)
        backend = self.backend()
        async with self.client() as client:
            if timeout is not None:  # --timeout bounds every request too, retries included
                client.session.call_timeout = timeout
            observed = await self._observe(client, store, lock, images=operation == "apply", manifest=manifest)
            lineage.stamp(store, desired, spec_identity(self.spec_path), backend.key if backend else None)
            store.save()
            if saved is not None:
                check_fresh(saved, source_hash=desired.source_hash, observed_hash=observed.fingerprint(),
                            lock_hash=lock.fingerprint(), text_hash=desired.text_hash, files_hash=desired.files_hash)
                plan = saved
            elif operation == "destroy":
                plan = self._as_given(plan_destroy(desired, observed, lock))
            else:
                plan = self._as_given(make_plan(desired, observed, lock, prune=prune, targets=targets))
            stale = await asyncio.to_thread(stale_images, desired, plan) if operation == "apply" else []
            if stale:  # the file-facts cache disagreed with the files: they win, before any request
                if saved is not None:
                    raise StalePlanError(f"the saved plan is stale: {_listed(stale)} not what the plan was made from",
                                         hint=f"review a new plan: bria-pipeline plan {saved.spec_path} --out PLAN")
                desired = self.validate()
                plan = self._as_given(make_plan(desired, observed, lock, prune=prune, targets=targets))
            self._refuse_what_cannot_run(plan, client)
            plan = self._ci_warning(plan)
            decision = on_plan(plan) if on_plan is not None else None
            if decision is False:
                return ApplyResult(operation=operation, notes=["cancelled: nothing was changed"], cancelled=True)
            approved = auto_approve or decision is True
            if plan.needs_approval and not approved:
                listed = "".join(f"\n  {a.address}" for a in plan.needs_approval)
                outputs = sum(a.address.startswith(("generation.", "video.")) for a in plan.needs_approval)
                paid = ("trained work" if not outputs else "generated outputs (paid work)"
                        if outputs == len(plan.needs_approval) else "trained work and generated outputs")
                raise ApprovalRequired(
                    f"this plan deletes or supersedes {paid} and needs approval:{listed}",
                    hint="review the plan, then apply with --auto-approve (or answer yes at the prompt)",
                )
            if copy is not None and observed.manifest is not None:
                copy.fetch(files_needed(plan, observed.manifest))
            run = Run(client, desired, store, lock, self.lock_path, RemoteIndex(plan.bindings, observed, desired),
                      self._options(wait=wait, timeout=timeout, client=client), on_progress, observed)
            store.start_apply(operation)
            syncing = asyncio.ensure_future(self._keep_synced(copy, store)) if copy is not None else None
            try:
                result = await execute(plan, run)
            except asyncio.CancelledError:
                store.end_apply("interrupted")
                if copy is not None:  # Ctrl-C: what finished goes to the backend too, before the lock is released
                    if syncing is not None:
                        syncing.cancel()
                    try:
                        await asyncio.to_thread(copy.push, store)
                    except StateError:
                        pass  # kept in the working copy: the next apply from it pushes
                raise
            finally:
                if syncing is not None:
                    syncing.cancel()
                    await asyncio.gather(syncing, return_exceptions=True)
            if stale:
                result.notes.append(f"{_listed(stale)} hashed again: the file-facts cache disagreed with the "
                                    "file, and the file was used")
            self.last_requests = client.stats.as_dict()
            result.requests = self.last_requests  # observing included
        status = "ok" if result.ok else "failed"
        if result.ok and result.still_running:
            status = "running"
        store.end_apply(status, result.summary())
        if operation == "apply" and result.ok and not targets and not plan.targets:
            self._tidy_lock(lock)
        if copy is not None:
            if getattr(run_lock, "lost", False):
                result.notes.append("the backend lock was forced away during this run: nothing was pushed; "
                                    "this run's work is kept in the working copy")
            else:
                try:
                    await asyncio.to_thread(copy.push, store)
                except StateError as exc:
                    result.steps.append(StepResult("backend", "failed", f"{exc.describe()}; this run's state and outputs "
                                                   "are kept in the working copy: the next apply pushes them"))
        return result

    async def _keep_synced(self, copy: Any, store: StateStore) -> None:
        """While apply runs: push state and manifest (and the files it names) about a second after
        they change, so a runner lost mid-apply leaves its request ids and outputs in the backend.
        A run that only waits (a long training) sends nothing."""
        from .state.remote_lock import refresh_seconds

        period = max(0.2, min(1.0, refresh_seconds()))
        last: Any = None
        while True:
            await asyncio.sleep(period)
            # a copy taken on the loop's thread (the steps go on changing the original); the
            # manifest is read from the working copy's files, whose journal is written line by line
            state = StateStore(store.path, store.as_data())
            seen = (json.dumps(state.as_data(), sort_keys=True, default=str), copy.manifest_signature())
            if seen == last:
                continue
            try:
                await asyncio.to_thread(copy.push, state, gallery=False)
                last = seen
            except StateError:
                continue  # the end of the run pushes again, and says so if it fails

    def _tidy_lock(self, lock: Lock) -> None:
        desired = self.desired
        schemas = {ds.visual_schema.inputs_hash for ds in desired.datasets.values()}
        captions = {caption_key(i, ds.visual_schema) for ds in desired.datasets.values() for i in ds.images if i.caption_refine}
        prompts = set()
        if desired.generation is not None:
            prompts = {r.structured_prompt.inputs_hash for r in desired.generation.images if r.structured_prompt}
        if lock.retain(visual_schemas=schemas, captions=captions, structured_prompts=prompts):
            save_lock(lock, self.lock_path)

    # --- show, refresh, import -------------------------------------------------------------------

    async def ashow(self) -> dict[str, Any]:
        """Every resource this spec owns: ids, status, training progress, checkpoints, counts."""
        lock = load_lock(self.lock_path)
        store, manifest, _copy = self._open_state(write_local=False)
        async with self.client() as client:
            observed = await self._observe(client, store, lock, manifest=manifest)
            self.last_requests = client.stats.as_dict()
        plan = make_plan(self.desired, observed, lock)
        return describe_state(self.desired, observed, plan, store)

    def show(self) -> dict[str, Any]:
        return _run(self.ashow())

    async def arefresh(self) -> Observed:
        """Rebuild `.bria/` from the remote: records of everything the spec owns, intents resolved."""
        with self._run_lock("refresh"):
            lock = load_lock(self.lock_path)
            old, _manifest, copy = self._open_state(write_local=True, check=False)
            store = StateStore(old.path)
            backend = self.backend()
            adopt = lineage.mismatch(old, self.desired, spec_identity(self.spec_path), backend.key if backend else None)
            if adopt is None:  # this spec's own state: keep what only it knows (renamed resources, intents)
                store.intents = list(old.intents)
                store.last_apply = old.last_apply
                store.reset_records([r for r in old.records if r.kind == "project"])
                old_records = old.records
            else:  # another spec's state: adopt by name, keep nothing of it
                old_records = []
            lineage.stamp(store, self.desired, spec_identity(self.spec_path), backend.key if backend else None,
                          fresh=adopt is not None)
            async with self.client() as client:
                observed = await self._observe(client, store, lock, images=False)
                self.last_requests = client.stats.as_dict()
            if observed.project is not None:
                # keep the records of renamed resources the old state knew about
                ids = {d.id for d in observed.datasets} | {m.id for m in observed.models}
                for record in old_records:
                    if record.kind != "project" and record.id in ids and not any(
                        r.kind == record.kind and r.id == record.id for r in store.records
                    ):
                        store.record(record.kind, record.id, record.name, record.key, save=False)
                record_owned(store, self.desired, observed.project, list(observed.datasets), list(observed.models))
            else:
                store.reset_records([])
            store.save()
            if copy is not None:
                copy.push(store, with_outputs=False)
        return observed

    def refresh(self) -> Observed:
        return _run(self.arefresh())

    async def aimport_(self, address: str, remote_id: int) -> str:
        """Adopt an existing remote resource as the spec's `address` (project, dataset.KEY, model.KEY)."""
        remote_id = int(remote_id)
        with self._run_lock("import"):
            store, _manifest, copy = self._open_state(write_local=True)
            try:
                return await self._import(store, address, remote_id)
            finally:
                store.save()
                if copy is not None:
                    copy.push(store, with_outputs=False)

    async def _import(self, store: StateStore, address: str, remote_id: int) -> str:
        desired = self.desired
        async with self.client() as client:
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
                if len(named) != 1:
                    raise StateError(
                        f"{len(named)} projects are named {desired.project.name!r}: say which is this spec's first",
                        hint=f"bria-pipeline import {self.spec_path} project ID",
                    )
                project_id = named[0].id
                store.record("project", project_id, desired.project.name, save=False)
            if kind == "dataset" and key in desired.datasets:
                found = [d for d in await client.list_project_datasets(project_id) if d.id == remote_id]
                if not found:
                    raise StateError(f"no dataset with id {remote_id} in project {project_id}")
                contents = await image_contents(client, remote_id)
                store.record("dataset", remote_id, desired.datasets[key].remote_name, key, save=False)
                mark_imported(store, "dataset", remote_id, contents)
                store.save()
                wanted = {i.content_tag for i in desired.datasets[key].images}
                same = len(wanted & set(contents.values()))
                return (f"dataset {found[0].name!r} (id {remote_id}) is now dataset.{key}; "
                        f"{same} of its {len(contents)} images are the spec's by content")
            if kind == "model" and key in desired.models:
                found = [m for m in await client.list_project_models(project_id) if m.id == remote_id]
                if not found:
                    raise StateError(f"no model with id {remote_id} in project {project_id}")
                model = desired.models[key]
                store.record("model", remote_id, model.remote_name(desired.dataset_of(model)), key)
                return f"model {found[0].name!r} (id {remote_id}) is now model.{key}"
        known = ["project"] + [f"dataset.{k}" for k in desired.datasets] + [f"model.{k}" for k in desired.models]
        raise StateError(f"cannot import {address!r}", hint=f"addresses of this spec: {', '.join(known)}")

    def import_(self, address: str, remote_id: int) -> str:
        return _run(self.aimport_(address, remote_id))

    # --- backend ---------------------------------------------------------------------------------

    def _require_backend(self, what: str) -> Backend:
        backend = self.backend()
        if backend is None:
            raise StateError(f"{what} needs a backend, and {self.spec_path} has none",
                             hint="set `backend: {url: ...}` in the spec, pass --backend URL or set BRIA_PIPELINE_BACKEND")
        return backend

    def pull(self) -> tuple[int, int]:
        """Fetch every output (verified by sha256), the thumbnails and the gallery from the backend
        into output_dir, and the state into .bria/. Returns (fetched, already there). No API request."""
        backend = self._require_backend("pull")
        before = backend.requests
        try:
            if self.desired.generation is None:
                self.working_copy().open(write_local=True)
                return 0, 0
            return self.working_copy().pull_outputs()
        finally:
            self.backend_requests = backend.requests - before

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        """Release the backend lock if `lock_id` holds it; returns the holder it named."""
        from .state.remote_lock import force_unlock

        return force_unlock(self._require_backend("force-unlock"), str(self.spec_path), lock_id)

    def state_push(self) -> str:
        """Move local state and outputs into the backend: idempotent, resumable, verified by hash."""
        from .apply.relocate import settle_outputs
        from .state.migrate import push_local_state

        backend = self._require_backend("state push")
        before = backend.requests
        with self._run_lock("state push"):
            store = StateStore.for_spec(self.spec_path)
            lineage.check(store, self.desired, spec_identity(self.spec_path), None, where=store.path,
                          spec_arg=str(self.spec_path))
            lineage.stamp(store, self.desired, spec_identity(self.spec_path), backend.key)
            settle_outputs(self.desired)  # outputs still in the old shared outputs/ folder move in first
            try:
                return push_local_state(self.working_copy(), store)
            finally:
                self.backend_requests = backend.requests - before

    # --- review ----------------------------------------------------------------------------------

    async def areview_datasets(self) -> list[DatasetReview]:
        """Each dataset of the spec as the review sheet shows it: the spec's images with the
        captions the dataset the spec uses has now (none before it exists), and what is pending.
        Reads only: the observing list calls, plus one image listing of a completed dataset."""
        lock = load_lock(self.lock_path)
        store, manifest, _copy = self._open_state(write_local=False)
        async with self.client() as client:
            observed = await self._observe(client, store, lock, manifest=manifest)
            bindings = make_plan(self.desired, observed, lock).bindings
            reviews = []
            for key, dataset in self.desired.datasets.items():
                remote = observed.dataset_by_id(bindings.get(f"dataset.{key}"))
                if remote is not None and remote.images is None and remote.count:
                    listed = await client.list_images(remote.id)
                    images = tuple(ObservedImage(i.id, i.image_name or "", i.caption, i.caption_source) for i in listed)
                    remote = dataclasses.replace(remote, images=images)
                reviews.append(dataset_review(dataset, remote, lock))
            self.last_requests = client.stats.as_dict()
        return reviews

    def review_datasets(self) -> list[DatasetReview]:
        return _run(self.areview_datasets())

    @property
    def review_path(self) -> Path:
        """Where `review()` writes the sheet by default: ``.bria/<spec>/review.html``."""
        return self.state_dir / "review.html"

    def write_review(self, reviews: list[DatasetReview], out: str | Path | None = None) -> Path:
        """Write `reviews` as the review sheet (HTML, opens from disk) to `out` or `review_path`."""
        title = f"Dataset review: {self.desired.project.name}"
        return write_review_sheet(Path(out) if out is not None else self.review_path, reviews, title=title)

    async def areview(self, out: str | Path | None = None) -> Path:
        """Observe, then write the dataset review sheet; returns its path."""
        return self.write_review(await self.areview_datasets(), out)

    def review(self, out: str | Path | None = None) -> Path:
        return _run(self.areview(out))

    # --- outputs ---------------------------------------------------------------------------------

    def outputs(self) -> list[dict[str, Any]]:
        """The generation outputs in the manifest: key, file (absolute), prompt, seed, model, status."""
        generation = self.desired.generation
        if generation is None:
            return []
        manifest = load_generation_manifest(generation, self.desired.models)  # not moved from outputs/ yet: there
        if self.backend_url is not None:  # the backend's records (a fresh checkout has none); files after `pull`
            manifest = self.working_copy().open(write_local=False).manifest or manifest
        out = []
        for record in sorted(manifest, key=lambda r: (r.order if r.order is not None else 1 << 30, r.name)):
            data = record.to_json()
            data["path"] = str(manifest.output_dir / record.file) if record.file else None
            out.append(data)
        return out


def _runnable(program: str, cwd: Path) -> bool:
    """Whether `program` (an upload_command's first word) can be started from `cwd`: a path is
    taken relative to it, a bare name is looked up on PATH, as the command runs."""
    import shutil

    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program) is not None


NOT_UPLOADED = "not uploaded yet"
NOT_IN_SPEC = "in the dataset, not in the spec"
CAPTION_PENDING = "caption being generated"
MANUAL_NOT_SENT = "manual caption from the spec, not sent yet"
REFINE_NOT_RUN = "caption refinement not run yet"
REFINED_NOT_SENT = "refined caption pinned in the lock file, not sent yet"


def dataset_review(dataset: DesiredDataset, remote: ObservedDataset | None, lock: Lock) -> DatasetReview:
    """One dataset for the review sheet: the spec's images in order, each with the caption it has
    remotely (or the spec's manual one, not sent yet) and what is still pending; then images the
    remote dataset holds that the spec does not list."""
    by_name = remote.images_by_tag() if remote is not None else {}
    images: list[ReviewImage] = []
    for image in dataset.images:
        found = by_name.pop(image.content_tag, [])
        flags: list[str] = []
        caption = source = None
        if not found:
            flags.append(NOT_UPLOADED)
        else:
            if len(found) > 1:
                flags.append(f"uploaded {len(found)} times")
            if found[0].has_caption:
                caption, source = found[0].caption, found[0].caption_source
            elif found[0].caption_source == "pending":
                flags.append(CAPTION_PENDING)
        if image.caption_refine:  # refined (from the spec's caption or the automatic one): the pin is what is sent
            pinned = lock.caption(image, dataset.visual_schema)
            if pinned is None:
                flags.append(REFINE_NOT_RUN)
            elif not same_caption(caption, pinned):
                caption, source = pinned, "manual"
                flags.append(REFINED_NOT_SENT)
        elif image.caption is not None:
            if not same_caption(caption, image.caption):
                caption, source = image.caption, "manual"
                flags.append(MANUAL_NOT_SENT)
        images.append(ReviewImage(image.remote_name, image.path, caption, source, tuple(flags), image.key, image.url,
                                  image.width, image.height))
    for extra in sorted(by_name.values(), key=lambda found: found[0].image_name):
        seen = extra[0]
        images.append(ReviewImage(seen.image_name, caption=seen.caption if seen.has_caption else None,
                                  caption_source=seen.caption_source if seen.has_caption else None, flags=(NOT_IN_SPEC,)))
    schema = (remote.visual_schema if remote is not None else None) or lock.visual_schema(dataset.visual_schema) \
        or dataset.visual_schema.text
    return DatasetReview(dataset.key, tuple(images), remote_name=remote.name if remote is not None else dataset.remote_name,
                         status=remote.status if remote is not None else "not created yet", visual_schema=schema)


def _listed(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def files_needed(plan: Plan, manifest: Manifest) -> list[str]:
    """Output files the plan's generation steps read or move (a video's source image, a file kept
    aside or taking its name back): fetched from the backend when the working copy lacks them."""
    files: list[str] = []
    for action in plan.actions:
        step = action.step
        if not action.is_change or not isinstance(step, GENERATION_STEPS):
            continue
        files += [old.file for old in getattr(step, "superseded", ()) if old.file]
        if isinstance(step, (RestoreOutput, DeleteOutput)) and step.file:
            files.append(step.file)
        output = getattr(step, "output", None)
        source = manifest.get(output.source or "") if output is not None else None
        if source is not None and source.file:
            files.append(source.file)
    return [f for f in files if f in manifest.files and not manifest.files[f].local]


def load_plan_file(path: str | Path) -> Plan:
    """Read a plan saved with `plan --out`."""
    import json

    from .plan.document import plan_from_dict

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanFileError(f"{path}: cannot read the plan ({exc})", hint="make one with `bria-pipeline plan SPEC --out PLAN`") from None
    return plan_from_dict(data, source=str(path))


def save_plan_file(plan: Plan, path: str | Path) -> None:
    import json

    from .atomic import write_atomic
    from .plan.document import plan_to_dict

    write_atomic(Path(path), (json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


_INTERRUPTED = object()


def _run(coro: Any) -> Any:
    """Run a coroutine to completion; Ctrl-C becomes ApplyInterrupted (state is saved as it goes).

    Ctrl-C cancels the work, and the loop then ends normally, so everything started on it
    (worker threads of the in-process sandbox included) is shut down before the error is raised.
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
