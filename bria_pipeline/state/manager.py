"""One interface for where a spec's state lives, as Terraform's statemgr: read it, lock it,
persist it. Commands use it without asking whether there is a backend.

    manager = LocalState(state_dir)                 # .bria/<spec>/ only
    manager = WorkingCopy(backend, state_path, ...) # a backend, .bria/<spec>/ its working copy
    with manager.lock("apply", spec="brands/lucy/spec.yaml", timeout=0):
        opened = manager.open(write_local=True)     # the state (and with a backend its manifest)
        ...
        manager.push(opened.store)                  # persist: locally a save, else one commit

- `open(write_local=...)` -> `Opened` (store, manifest or None: the local manifest is read as it is);
- `lock(command, spec=, timeout=)` -> a context manager holding the one-writer lock;
- `push(store, gallery=, with_outputs=)` -> persist; True when something was committed;
- `fetch(files)` -> output files brought into the working copy (0 locally: they are all here);
- `syncs`: whether apply should persist while it runs (a backend: so a lost runner loses nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .lock import StateLock
from .store import StateStore
from .working_copy import Opened

if TYPE_CHECKING:  # loaded with a backend only
    from .remote_lock import RemoteLock

STATE_FILE = "state.json"


class StateManager(Protocol):
    syncs: bool

    def open(self, *, write_local: bool) -> Opened: ...

    def lock(self, command: str, *, spec: str, timeout: float) -> StateLock | RemoteLock: ...

    def push(self, store: StateStore, *, gallery: bool = True, with_outputs: bool = True) -> bool: ...

    def fetch(self, files: list[str]) -> int: ...


class LocalState:
    """The state in `.bria/<spec>/state.json`, the manifest beside the outputs: every change is
    saved as it is made (the store and the manifest's journal), so persisting is one save."""

    syncs = False

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_path = self.state_dir / STATE_FILE

    def open(self, *, write_local: bool) -> Opened:
        return Opened(StateStore.load(self.state_path), None, source={"state": "working copy"})

    def lock(self, command: str, *, spec: str, timeout: float) -> StateLock:
        return StateLock(self.state_dir, timeout=timeout, command=command, spec=spec)

    def push(self, store: StateStore, *, gallery: bool = True, with_outputs: bool = True) -> bool:
        store.save()
        return False

    def fetch(self, files: list[str]) -> int:
        return 0
