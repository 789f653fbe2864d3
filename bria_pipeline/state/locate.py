"""Where a spec's state is in its backend: found by its lineage, not by the spec's folder.

    found = locate(spec_path, url, store, record=lock.state, project="lucy-brand")
    found.key            # "brands/lucy/spec": where state.json, manifest.json, outputs/ and the lock are
    found.moved_from     # "brands/lucy/spec.yaml" when the state was made for the spec at another path

A state gets its key (the spec's path in its repository, without suffix) and its lineage id at
its first apply with a backend; ``spec.lock.yaml`` (committed) records both, with the URL,
under ``state:``. The key never changes after that: a spec moved or renamed (`git mv brands/lucy
brands/lucy-v2`) finds its state through its lock file, wherever it now is.

In order:

1. The lock file records a lineage for this backend URL: its key. The state there must carry
   that lineage (`verify`, once the state is read; else the run stops and says what to do). A state whose spec is still in the
   checkout, claiming the same lineage, is a copied folder (`cp -r brands/lucy brands/mira`):
   refused, with `state rm` for the copy.
2. No record (a spec never applied with a backend, or applied before lock files recorded where
   the state is): the key of the spec's path, when the state there is this spec's.
3. Nothing there: a state this spec left at its former path, found through git's rename history
   (`git log --follow`), then, when the lock file shows the spec was applied before, among the
   backend's states whose spec is no longer in the checkout and whose project is this spec's.
4. Still nothing: a new state, at the spec's path key (or beside it, when that key holds
   another spec's state).

`bria-pipeline state list/show/mv/rm` (commands/state.py) use the same functions.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..lockfile import LockFileError, load_lock, lock_path_for
from .backend import STATE_OBJECT, Backend, repo_root, spec_identity
from .backend import backend_key as path_key
from .errors import StateError
from .hashing import sha256_text
from .objects import ObjectStore

if TYPE_CHECKING:  # working_copy.py is loaded with a backend only
    from .commit import Snapshot
    from .remote_lock import RemoteLock
    from .store import StateStore
    from .working_copy import ManifestSignature, Opened, WorkingCopy

GIT_TIMEOUT = 10.0  # seconds `git log --follow` may take


class LocateError(StateError):
    """The spec's state cannot be told apart from another spec's: nothing was sent."""


@dataclass(frozen=True)
class Located:
    url: str
    key: str
    lineage: str | None  # the id of the state found there; None: no state yet
    how: str  # "lock file", "path", "moved", "new"
    moved_from: str | None = None  # the spec path (in its repository) the state was made for, when not this one
    lineage_data: dict[str, Any] = field(default_factory=dict, compare=False)
    checked: bool = True  # False: a path key not read yet (`settle` it once read)

    def describe(self) -> str:
        where = f"{self.url.rstrip('/')}/{self.key}/"
        if self.lineage is None:
            return f"{where} (no state yet: the first apply makes it)"
        return f"{where} (lineage {self.lineage}, found by {self.how})"


def same_spec(recorded: str, spec: str) -> bool:
    """The same spec file, also once its folder became a repository (or moved into a bigger one):
    ``lucy/spec.yaml`` and ``brands/lucy/spec.yaml`` are; ``brands/lucy/...`` and ``brands/mira/...`` are not."""
    return recorded == spec or recorded.endswith("/" + spec) or spec.endswith("/" + recorded)


def public_url(url: str) -> str:
    """The URL as a lock file may record it: no user, password, query or fragment."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def spec_file(recorded: str, spec_path: Path) -> Path:
    """Where the spec a lineage names (``brands/lucy/spec.yaml``, relative to its repository) is
    in this checkout."""
    spec = Path(spec_path).absolute()
    root = repo_root(spec.parent)
    base = root if root is not None else spec.parent.parent
    return base / recorded


# where a state is read under its key: the commit root (one object naming the state and the
# manifest), then the layout before it (state.json beside manifest.json)
ROOT_OBJECT = "root.json"
STATE_NAMES = (ROOT_OBJECT, STATE_OBJECT)


def read_state(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The state object under `key` (None when there is none); only its lineage is used here."""
    for name in STATE_NAMES:
        blob = store.read(f"{key}/{name}")
        if blob is None:
            continue
        try:
            data = json.loads(blob.data)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and name == ROOT_OBJECT:
            found = data.get("state")
            state: dict[str, Any] = found if isinstance(found, dict) else {}
            found_lineage = state.get("lineage")
            lineage = dict(found_lineage) if isinstance(found_lineage, dict) else {}
            if data.get("lineage") and not lineage.get("id"):
                lineage["id"] = data["lineage"]
            return {**state, "lineage": lineage} if lineage else dict(state)
        if not isinstance(data, dict):
            raise StateError(f"{key}/{name} in the backend is not a state object",
                             hint=f"restore it from the store's object versions; `bria-pipeline state list --backend "
                                  f"{store.url}` shows the states there")
        return data
    return None


def lineage_of(state: dict[str, Any] | None) -> dict[str, Any]:
    lineage = (state or {}).get("lineage")
    return dict(lineage) if isinstance(lineage, dict) else {}


def is_ours(lineage: dict[str, Any], identity: str) -> bool:
    return bool(lineage.get("spec")) and same_spec(lineage["spec"], identity)


def claims(spec: Path, lineage_id: str) -> bool:
    """Whether the spec at `spec` (its lock file) records the lineage `lineage_id`."""
    try:
        return spec.is_file() and load_lock(lock_path_for(spec)).state.get("lineage") == lineage_id
    except LockFileError:
        return False


@dataclass(frozen=True)
class StateEntry:
    """One state of a backend, as `state list` shows it."""

    key: str
    lineage: dict[str, Any]
    state: dict[str, Any] = field(repr=False, compare=False)

    @property
    def spec(self) -> str | None:
        return self.lineage.get("spec")


def list_states(store: ObjectStore, *, read: bool = True) -> list[StateEntry]:
    """Every state in the backend (its key: the folder holding state.json), read when `read`."""
    keys = sorted({k.rsplit("/", 1)[0] for k in store.list("")
                   if "/" in k and k.rsplit("/", 1)[1] in STATE_NAMES and "/outputs/" not in "/" + k})
    out = []
    for key in keys:
        state = read_state(store, key) if read else {}
        if state is not None:
            out.append(StateEntry(key, lineage_of(state), state))
    return out


def former_paths(spec_path: Path) -> list[str]:
    """The paths (relative to the repository) git knows this spec by in its history, newest first,
    the present one left out: a spec moved with `git mv` and committed."""
    spec = Path(spec_path).absolute()
    root = repo_root(spec.parent)
    if root is None:
        return []
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "log", "--follow", "--name-only", "--format=", "--", spec.relative_to(root).as_posix()],
            capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    if done.returncode != 0:
        return []
    now = spec.relative_to(root).as_posix()
    return [p for p in dict.fromkeys(line.strip() for line in done.stdout.splitlines()) if p and p != now]


def beside_key(key: str, occupant: str) -> str:
    """A key beside `key` for a new state when `key` holds another spec's state (the same for every
    run that finds the same occupant: two first applies racing take the same lock)."""
    return f"{key}-{sha256_text(f'{key}:{occupant}')[:8]}"


def locate(spec_path: Path, url: str, store: ObjectStore, *, record: dict[str, str] | None,
           project: str) -> Located:
    """Where this spec's state is under `url` (see the module's docstring). Reads only."""
    found = provisional(spec_path, url, record)
    if found.checked:
        return found
    state = read_state(store, found.key)
    return settle(found, state is not None, lineage_of(state), spec_path, store, project)


def provisional(spec_path: Path, url: str, record: dict[str, str] | None) -> Located:
    """Where to read first, without reading: the key the lock file records (checked by `verify`
    once read), else the spec's path key (to `settle` once read)."""
    record = record or {}
    if record.get("lineage") and record.get("key") and public_url(record.get("backend", "")) == public_url(url):
        return Located(url, record["key"], record["lineage"], "lock file")
    return Located(url, path_key(spec_path), None, "path", checked=False)


def settle(found: Located, exists: bool, lineage: dict[str, Any], spec_path: Path, store: ObjectStore,
           project: str) -> Located:
    """`found` (a provisional path key) once its state was read: this spec's, or (none there) a
    state the spec left at a former path, or (another spec's there) a new key beside it."""
    if found.checked:
        return found
    url, key = found.url, found.key
    if exists and not lineage.get("forgotten") and (not lineage.get("spec")
                                                     or is_ours(lineage, spec_identity(spec_path))):
        return Located(url, key, lineage.get("id") or "", "path", None, lineage)
    if not exists:
        return _moved(spec_path, url, store, project) or Located(url, key, None, "new")
    alternative = beside_key(key, lineage.get("id") or lineage.get("spec") or "")
    state = read_state(store, alternative)
    lineage = lineage_of(state)
    return Located(url, alternative, lineage.get("id") if state is not None else None, "path" if state else "new",
                   None, lineage)


def verify(located: Located, lineage: dict[str, Any], spec_path: Path) -> str | None:
    """Check the state read at `located` against what the lock file recorded: the same lineage,
    and not still claimed by the spec it was made for (a copied folder). Returns the spec path it
    was made for when that is not this spec (a move), else None."""
    if located.how != "lock file" or not lineage:
        return located.moved_from
    want, key, url = located.lineage, located.key, located.url
    if lineage.get("id") != want:
        raise LocateError(
            f"{lock_path_for(spec_path)} says this spec's state is {url.rstrip('/')}/{key}/ with lineage {want}, and "
            f"the state there has lineage {lineage.get('id') or '(none)'} (spec {lineage.get('spec') or '?'}). "
            "Nothing was sent",
            hint=f"to adopt the state found there: `bria-pipeline state mv {key} {spec_path} --backend {url}`; "
                 f"to start anew without it: `bria-pipeline state rm {spec_path} --backend {url}`")
    recorded: str | None = lineage.get("spec")
    if not recorded or is_ours(lineage, spec_identity(spec_path)):
        return None
    if claims(spec_file(recorded, spec_path), want or ""):
        raise LocateError(
            f"{spec_path} and {recorded} both record the state {url.rstrip('/')}/{key}/ (lineage {want}) in their "
            "lock files: the folder was copied, and two specs must not share one state. Nothing was sent",
            hint=f"to give the copy a state of its own: `bria-pipeline state rm {spec_path}` (the other spec keeps "
                 "the state; nothing is deleted)")
    return recorded


def _moved(spec_path: Path, url: str, store: ObjectStore, project: str) -> Located | None:
    """The state this spec left at a former path, if it can be told apart from every other."""
    identity = spec_identity(spec_path)
    for former in former_paths(spec_path):
        if spec_file(former, spec_path).exists():
            continue  # that spec is still there: a copy, not a move
        key = str(PurePosixPath(former).with_suffix(""))
        state = read_state(store, key)
        lineage = lineage_of(state)
        if state is not None and not lineage.get("forgotten") and lineage.get("project", project) == project:
            return Located(url, key, lineage.get("id") or "", "moved", lineage.get("spec") or former, lineage)
    if not lock_path_for(spec_path).is_file():
        return None  # never applied with pins: a new spec (listing every state is for a spec applied before)
    found = []
    for entry in list_states(store, read=False):
        if any(spec_file(str(PurePosixPath(entry.key).with_suffix(s)), spec_path).exists() for s in (".yaml", ".yml")):
            continue  # its spec is here: not a state left behind
        state = read_state(store, entry.key)
        lineage = lineage_of(state)
        recorded = lineage.get("spec")
        if state is None or lineage.get("forgotten"):
            continue
        if recorded and is_ours(lineage, identity):  # an apply from another checkout already named this path
            return Located(url, entry.key, lineage.get("id") or "", "moved", None, lineage)
        if recorded and spec_file(recorded, spec_path).exists():
            continue
        if lineage.get("project") == project or _project_of(state) == project:
            found.append(Located(url, entry.key, lineage.get("id") or "", "moved",
                                 recorded or entry.key + ".yaml", lineage))
    if len(found) > 1:
        listed = ", ".join(f.key for f in found)
        raise LocateError(
            f"{spec_path} has no state at its path in {url} and no record in its lock file, and {len(found)} states "
            f"left by specs no longer in this checkout are of its project: {listed}. Nothing was sent",
            hint=f"say which is this spec's: `bria-pipeline state mv {found[0].key} {spec_path} --backend {url}` "
                 f"(`bria-pipeline state list --backend {url}` shows them all)")
    return found[0] if found else None


def _project_of(state: dict[str, Any]) -> str | None:
    """The project a state made before lineages existed recorded."""
    for record in state.get("records") or ():
        if isinstance(record, dict) and record.get("kind") == "project":
            return record.get("name")
    return None


class LocatingCopy:
    """A backend's working copy at the key where the spec's state is: a StateManager. Opening it
    settles a key not read yet (`settle`: a new working copy at the settled key when it differs) and
    checks what it read against the lock file's record (`verify`); `place(located, moved_from)` is
    told. The rest is the working copy's, delegated method by method."""

    syncs = True  # as the working copy: apply pushes while it runs

    def __init__(self, make: Callable[[], WorkingCopy], located: Located, place: Callable[[Located, str | None], None],
                 spec_path: Path,
                 project: str) -> None:
        self._make, self._place, self._spec_path, self._project = make, place, spec_path, project
        self.located = located
        self.copy = make()

    def open(self, *, write_local: bool) -> Opened:
        found = self.copy.open(write_local=write_local)
        if not self.located.checked:
            settled = settle(self.located, found.source.get("state", "none") != "none", found.store.lineage,
                             self._spec_path, self.copy.backend.store, self._project)
            self._place(settled, None)
            if settled.key != self.located.key:
                self.copy = self._make()
                found = self.copy.open(write_local=write_local)
            self.located = settled
        moved_from = verify(self.located, found.store.lineage, self._spec_path)
        if moved_from:
            self._place(self.located, moved_from)
        return found

    # -- the working copy's, as it is

    @property
    def backend(self) -> Backend:
        return self.copy.backend

    @property
    def output_dir(self) -> Path | None:
        return self.copy.output_dir

    def lock(self, command: str, *, spec: str, timeout: float) -> RemoteLock:
        return self.copy.lock(command, spec=spec, timeout=timeout)

    def push(self, store: StateStore, *, gallery: bool = True, with_outputs: bool = True) -> bool:
        return self.copy.push(store, gallery=gallery, with_outputs=with_outputs)

    def fetch(self, files: list[str]) -> int:
        return self.copy.fetch(files)

    def manifest_signature(self) -> ManifestSignature:
        return self.copy.manifest_signature()

    def pull_outputs(self) -> tuple[int, int]:
        return self.copy.pull_outputs()

    def snapshot(self) -> Snapshot:
        return self.copy.snapshot()

    def replace(self, store: StateStore, records: dict[str, Any] | None, gallery_due: bool | None = None) -> bool:
        return self.copy.replace(store, records, gallery_due)

    def mark_synced(self, base: dict[str, Any]) -> None:
        self.copy.mark_synced(base)
