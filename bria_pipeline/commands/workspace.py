"""The workspace: one spec and the files beside it, and how to reach the API. Every command runs on one.

    ws = Workspace(spec_path, desired, connect=make_client, local_api=True)
    async with ws.observing() as seen:          # lock file + state + client opened, remote observed
        plan = ws.as_given(make_plan(ws.desired, seen.observed, seen.lock))

What lives beside ``spec.yaml``: ``spec.lock.yaml`` (pins, committed) and ``.bria/<spec>/`` (the
state, the apply lock, bulk zips, the review sheet). With a backend (s3://, gs://, az://, file://)
the state, the output manifest and the apply lock live there, ``.bria/`` holding the working copy.
A command opens them here, once, the same way: `run_lock` (one writer at a time), `load_lock`,
`open_state` (lineage checked), `connect`, then `observe`.

The workspace never builds an API client itself: `connect` is handed in (the Pipeline's `client`,
which the CLI wires to the sandbox or the real API). Nothing here prints. What a command does with
what it observed is elsewhere: apply and destroy run as an Operation (commands/operation.py), whose
check phase is commands/checks.py and approval commands/approval.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ..api.client import AsyncBriaClient

if TYPE_CHECKING:  # imported where used: a run without a backend never loads them
    from ..state.locate import Located, LocatingCopy
    from ..state.remote_lock import RemoteLock
    from ..state.working_copy import WorkingCopy
from ..lockfile import Lock, load_lock, lock_path_for, save_lock
from ..model import Desired
from ..plan.document import Plan
from ..state import lineage
from ..state.backend import Backend, spec_identity
from ..state.errors import StateError
from ..state.lock import StateLock
from ..state.manager import LocalState, StateManager
from ..state.manifest import Manifest
from ..state.observe import observe
from ..state.observed import Observed
from ..state.store import StateStore, state_dir_for

REVIEW_FILE = "review.html"  # the dataset review sheet, in .bria/<spec>/


@dataclass
class OpenState:
    """The state as a command opened it: `copy` is the state manager it persists through (None: a
    store handed in); `backend_manifest` the output manifest read from a backend (None: observing
    reads the local one, beside the outputs)."""

    store: StateStore
    copy: StateManager | None = None
    backend_manifest: Manifest | None = None

    def persist(self, store: StateStore | None = None) -> None:
        """Save the state (`store`, else the one opened) where it lives, without outputs (a backend:
        one commit): what refresh and import write."""
        store = self.store if store is None else store
        store.save()
        if self.copy is not None:
            self.copy.push(store, with_outputs=False)


@dataclass
class Found:
    """Where this spec's state is, as found once per workspace: the lock file's `record` of it (None:
    not read yet), where the backend holds it (`located`; None: not looked for yet, or no backend),
    and the spec path it was made for when the spec moved (`moved_from`)."""

    record: dict[str, str] | None = None
    located: Located | None = None
    moved_from: str | None = None


@dataclass
class Session:
    """One command's open files and client, and what it observed."""

    client: AsyncBriaClient
    store: StateStore
    lock: Lock
    observed: Observed
    copy: StateManager | None = None  # where the state persists (state.manager), None: a store handed in

    def requests(self) -> dict[str, Any]:
        """What the client sent so far: total, mutating, by operation (observing included)."""
        return self.client.stats.as_dict()


@dataclass(frozen=True)
class SpecFiles:
    """Where the files of the spec at `spec_path` are (nothing is read)."""

    spec_path: Path

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.spec_path)

    @property
    def lock_path(self) -> Path:
        return lock_path_for(self.spec_path)

    @property
    def review_path(self) -> Path:
        return self.state_dir / REVIEW_FILE


@dataclass(frozen=True)
class Workspace(SpecFiles):
    """The spec (loaded and validated), the files beside it, and the API connection settings."""

    desired: Desired
    connect: Callable[[], AsyncBriaClient]
    reload: Callable[[], Desired]  # validate the spec again (after its file facts proved stale)
    backend: Backend | None = None  # where state, manifest, outputs and the apply lock live; None: .bria/
    local_api: bool = False  # the sandbox or an API on this machine: poll every second, not every 30
    staging_transport: httpx.AsyncBaseTransport | None = None  # the sandbox's staging area, in process
    concurrency: int = 4
    lock_timeout: float = 0.0
    rate_limit_per_minute: float | None = None
    no_backend: bool = False  # --no-backend: work locally although the lock file records a backend
    sandbox: bool = False  # the built-in sandbox: nothing is paid, so nothing unshared is worth a note
    found: Found = field(default_factory=Found, compare=False, repr=False)  # where the state is (once)

    # --- where the state is (state/locate.py) ----------------------------------------------------

    def recorded(self) -> dict[str, str]:
        """The lock file's record of where this spec's state lives (lineage, backend, key)."""
        if self.found.record is None:
            self.found.record = dict(self.load_lock().state)
        return self.found.record

    def locate(self, *, read: bool = True) -> Located | None:
        """Where the backend holds this spec's state (found by its lineage, once), the backend's
        key set to it; None without a backend. `read=False`: where to read first (state/locate.py's
        `provisional`; `open_state` settles it with what it reads). Refuses a run without the
        backend the lock file records, before any request."""
        from ..state.locate import locate, provisional

        self.refuse_forgotten_backend()
        if self.backend is None:
            return None
        if self.found.located is None or read and not self.found.located.checked:
            self._place(locate(self.spec_path, self.backend.url, self.backend.store, record=self.recorded(),
                               project=self.desired.project.name) if read
                        else provisional(self.spec_path, self.backend.url, self.recorded()))
        return self.found.located

    def _place(self, located: Located, moved_from: str | None = None) -> None:
        assert self.backend is not None
        self.backend.key = located.key
        self.found.located = located
        if moved_from or located.moved_from:
            self.found.moved_from = moved_from or located.moved_from

    def refuse_forgotten_backend(self) -> None:
        url = self.recorded().get("backend")
        if self.backend is not None or self.no_backend or self.sandbox or not url:
            return  # the sandbox is an organisation of its own: what the backend holds is not its
        raise StateError(
            f"{self.lock_path} records that this spec's state lives in the backend {url} (lineage "
            f"{self.recorded().get('lineage', '?')}), and this run has no backend: it would not see what was "
            "already generated there, and would pay for it again. Nothing was sent",
            hint=f"give the backend: --backend {url}, or BRIA_PIPELINE_BACKEND={url} in the environment, or "
                 f"`backend: {{url: {url}}}` in the spec (the store's credentials come from its environment, e.g. "
                 "AWS_*); to work locally on purpose: --no-backend")

    def record_state(self, lock: Lock, store: StateStore) -> None:
        """Write where the state lives (lineage, backend URL without credentials, key) into the lock file."""
        from ..state.locate import public_url

        if self.backend is None or self.sandbox or not store.lineage.get("id"):
            return  # (the sandbox's state is no team's: a lock file never points at it)
        record = {"lineage": store.lineage["id"], "backend": public_url(self.backend.url), "key": self.backend.key}
        if lock.state != record:
            lock.state = record
            save_lock(lock, self.lock_path)
            self.found.record = dict(record)

    # --- the files beside the spec -------------------------------------------------------------

    def state(self) -> StateManager:
        """Where the state lives, behind one interface (read, lock, persist): the backend through
        its working copy when there is one, else .bria/ alone."""
        if self.backend is None:
            return LocalState(self.state_dir)
        return self.working_copy()

    def run_lock(self, command: str) -> StateLock | RemoteLock:
        """One run that writes state at a time: in the backend when there is one (create-if-absent,
        refreshed), else the OS file lock in .bria/ naming its holder."""
        self.locate()
        return self.state().lock(command, spec=str(self.spec_path), timeout=self.lock_timeout)

    def backend_requests(self) -> int:
        """Requests sent to the backend so far (0 without one)."""
        return self.backend.requests if self.backend is not None else 0

    def load_lock(self) -> Lock:
        return load_lock(self.lock_path)

    @property
    def backend_key(self) -> str | None:
        return self.backend.key if self.backend is not None else None

    @property
    def identity(self) -> str:
        """Which spec this is, for the state's lineage."""
        return spec_identity(self.spec_path)

    def working_copy(self) -> LocatingCopy:
        from ..state.locate import LocatingCopy

        self.require_backend("a working copy")
        assert self.found.located is not None  # located by require_backend
        return LocatingCopy(self._working_copy, self.found.located, self._place, self.spec_path,
                            self.desired.project.name)

    def _working_copy(self) -> WorkingCopy:
        from ..reports.gallery import write_gallery
        from ..state.working_copy import WorkingCopy

        backend = self.require_backend("a working copy")
        generation = self.desired.generation
        return WorkingCopy(backend, self.state_dir / "state.json", generation.output_dir if generation else None,
                           render_gallery=write_gallery)

    def require_backend(self, what: str) -> Backend:
        if self.backend is not None and self.found.located is None:
            self.locate()
        if self.backend is None:
            raise StateError(f"{what} needs a backend, and {self.spec_path} has none",
                             hint="set `backend: {url: ...}` in the spec, pass --backend URL or set BRIA_PIPELINE_BACKEND")
        return self.backend

    def open_state(self, *, write_local: bool = False, check: bool = True) -> OpenState:
        """The state (from the backend through the working copy when there is one), its lineage
        checked unless `check=False`. No API request is sent before this returns."""
        located = self.locate_to_open(write_local=write_local, check=check)
        manager = self.state()
        found = manager.open(write_local=write_local)
        opened = OpenState(found.store, manager, found.manifest)
        located = self.found.located or located  # as opening the working copy settled it
        if check:
            where = self.backend.where("root.json") if self.backend is not None else opened.store.path
            lineage.check(opened.store, self.desired, self.identity, self.backend_key, where=where,
                          spec_arg=str(self.spec_path), spec_path=self.spec_path,
                          lineage_id=located.lineage if located is not None else None)
        self.note_moved(opened.store, located)
        return opened

    def locate_to_open(self, *, write_local: bool, check: bool) -> Located | None:
        """Where to open the state: located before a writer takes the lock, and before a working copy
        with a state of its own is read (at a key that is not its state's, it would be taken for a
        state to push); else where to read first (settled as it is read). A working copy copied from
        another spec's folder is named as such, first."""
        located = self.locate(read=write_local or (self.state_dir / "state.json").exists())
        if self.backend is not None and check:
            from ..state.locate import verify

            assert located is not None  # located whenever there is a backend

            local = StateStore.for_spec(self.spec_path)
            if located.lineage and local.lineage.get("id") == located.lineage:
                verify(located, local.lineage, self.spec_path)  # a copied folder: its lock file and .bria/ both
            lineage.check(local, self.desired, self.identity, None, where=local.path, spec_arg=str(self.spec_path),
                          spec_path=self.spec_path, lineage_id=located.lineage)
        return located

    def note_moved(self, store: StateStore, located: Located | None) -> None:
        """Remember that the state was made for this spec at another path (the plan says so)."""
        recorded = store.lineage.get("spec")
        if recorded and recorded != self.identity and lineage.moved_here(
                store.lineage, self.identity, self.spec_path, located.lineage if located is not None else None):
            self.found.moved_from = recorded

    # --- observing -----------------------------------------------------------------------------

    @asynccontextmanager
    async def observing(self, *, images: bool = True, store: StateStore | None = None, write_local: bool = False,
                        timeout: float | None = None) -> AsyncIterator[Session]:
        """Load the lock file, open the state (or use `store`), open a client, observe the remote.

        `images=False` skips listing dataset images (destroy and refresh do not need them);
        `write_local`: a command that writes state takes the backend's state into .bria/ first;
        `timeout` bounds every request, retries included. The state is changed in memory only
        (records, resolved intents): the command saves it when it writes.
        """
        lock = self.load_lock()
        opened = OpenState(store) if store is not None else self.open_state(write_local=write_local)
        async with self.connect() as client:
            if timeout is not None:
                client.call_timeout = timeout
            manifest = True if opened.backend_manifest is None else opened.backend_manifest  # True: the local one
            observed = await observe(client, self.desired, opened.store, lock=lock, images=images, manifest=manifest)
            yield Session(client, opened.store, lock, observed, opened.copy)

    async def observe(self, *, images: bool = True) -> Session:
        """`observing`, for a command that needs the client no longer once it has looked."""
        async with self.observing(images=images) as seen:
            return seen

    def as_given(self, plan: Plan) -> Plan:
        """The plan names the spec as the caller did (a relative path stays relative in PR comments
        and saved plans), with the caller's request limit for its cost line."""
        return dataclasses.replace(plan, spec_path=str(self.spec_path), rate_per_minute=self.rate_limit_per_minute)
