"""`state list`, `state show`, `state mv`, `state rm`: what a team does by hand with the states in
a backend (as Terraform's `state list/show/mv/rm` do with the resources in a state).

None of them sends an API request, and none deletes anything: not a Bria project, dataset or model,
not an output file, not a state object in the backend.

- `list`: every state in the backend, with the spec it was made for and whether that spec is in
  this checkout (a state whose spec is gone is *left behind*: `state mv` gives it to a spec).
- `show SPEC`: where the spec's state is and how it was found (lock file, path, moved), its
  lineage, its records, its outputs and its last apply.
- `mv SOURCE SPEC`: SPEC's state becomes the one at SOURCE (a key `state list` prints, or a
  former spec path): recorded in SPEC's lock file, the state's lineage names SPEC. Nothing is
  copied: the key stays where it is.
- `rm SPEC`: SPEC stops using its state: the lock file's record and the local working copy of
  the state (`.bria/<spec>/state.json`) are removed; a state that was SPEC's own
  is marked *forgotten* in the backend (kept, listed, adoptable again with `state mv`). The next
  apply starts a new state: it finds the project, datasets and models by name, and generates again
  the outputs the new state does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..lockfile import save_lock
from ..state import lineage
from ..state.errors import StateError
from ..state.objects import ObjectStore
from ..state.commit import old_layout_leftovers
from ..state.locate import (Located, LocateError, LocatingCopy, StateEntry, lineage_of, list_states, public_url,
                            read_state, same_spec, spec_file, verify)
from ..state.clock import now_iso
from .workspace import Workspace


@dataclass
class Listed:
    entry: StateEntry
    status: str  # "in this checkout", "moved to SPEC", "left behind", "forgotten"


SKIPPED = {".git", ".bria", "node_modules", ".venv", "outputs"}


def claims(root: Path) -> dict[str, str]:
    """lineage id -> the spec (relative to `root`) whose lock file records it, for every lock file below `root`."""
    from ..lockfile import LockFileError, load_lock

    found = {}
    for lock in sorted(root.rglob("*.lock.yaml")):
        if SKIPPED.intersection(lock.relative_to(root).parts):
            continue
        try:
            lineage_id = load_lock(lock).state.get("lineage")
        except LockFileError:
            continue
        if lineage_id:
            found[lineage_id] = lock.with_name(lock.name.replace(".lock.yaml", ".yaml")).relative_to(root).as_posix()
    return found


def list_(store: ObjectStore, checkout: Path) -> list[Listed]:
    """Every state in the backend `store`; `checkout`: a folder of the repository the specs are in."""
    from ..state.backend import repo_root

    root = repo_root(Path(checkout)) or Path(checkout).absolute().parent
    claimed = claims(root)
    out = []
    for entry in list_states(store):
        recorded = entry.spec or entry.key + ".yaml"
        claimer = claimed.get(entry.lineage.get("id") or "")
        if entry.lineage.get("forgotten"):
            status = "forgotten"
        elif claimer and not same_spec(recorded, claimer):
            status = f"moved to {claimer}"
        elif claimer or (root / recorded).is_file():
            status = "in this checkout"
        else:
            status = "left behind"
        out.append(Listed(entry, status))
    return out


@dataclass
class Shown:
    located: Located | None
    state_dir: Path
    state: dict[str, Any]
    outputs: dict[str, int] = field(default_factory=dict)
    moved_from: str | None = None
    # state.json / manifest.json of the layout before root.json, ignored since the migration:
    # left in place, they can be deleted by hand (see OLD_LAYOUT_NOTE)
    old_layout: list[str] = field(default_factory=list)


OLD_LAYOUT_NOTE = ("left over from the backend's layout before root.json (migrated by its first commit, read by "
                   "nothing since): they can be deleted by hand")


def show(ws: Workspace) -> Shown:
    """Where `ws`'s state is and what it holds (the backend's through the working copy, else the local one)."""
    opened = ws.open_state(check=False)
    manifest = opened.backend_manifest
    if manifest is None and ws.desired.generation is not None:  # the local one
        from ..state.manifest import Manifest

        manifest = Manifest.load(ws.desired.generation.output_dir, observe=False)
    outputs: dict[str, int] = {}
    for record in manifest if manifest is not None else ():
        outputs[record.status] = outputs.get(record.status, 0) + 1
    old_layout = old_layout_leftovers(opened.copy.backend) if isinstance(opened.copy, LocatingCopy) else []
    return Shown(ws.found.located, ws.state_dir, opened.store.as_data(), outputs, ws.found.moved_from, old_layout)


def source_key(source: str) -> str:
    """A key as `state list` prints it, or a former spec path (``brands/lucy/spec.yaml``)."""
    source = source.strip().strip("/")
    path = PurePosixPath(source)
    return str(path.with_suffix("")) if path.suffix in (".yaml", ".yml") else source


def mv(ws: Workspace, source: str) -> tuple[str, str]:
    """Make the state at `source` the spec's. Returns (key, lineage id)."""
    if ws.backend is None:
        ws.require_backend("state mv")
    backend = ws.backend
    assert backend is not None
    key = source_key(source)
    try:
        current = ws.locate()
    except LocateError:  # what `state mv` is for: the state cannot be told apart, or is another spec's
        current = None
    found = read_state(backend.store, key)
    had = lineage_of(found)
    backend.key = key
    ws.found.located = Located(backend.url, key, had.get("id") or None, "state mv", had.get("spec"), had)
    with ws.run_lock("state mv"):
        if found is None:
            raise StateError(f"the backend {backend.url} has no state at {key}/",
                             hint=f"bria-pipeline state list --backend {backend.url} shows the states there")
        if had.get("project") and had["project"] != ws.desired.project.name:
            raise StateError(f"the state at {key}/ was made for project {had['project']!r}, and {ws.spec_path} names "
                             f"project {ws.desired.project.name!r}: it cannot be this spec's state",
                             hint=f"set `project: {{name: {had['project']}}}` in {ws.spec_path} first, if it is")
        if current is not None and current.key != key and current.lineage and read_state(backend.store, current.key):
            raise StateError(f"{ws.spec_path} has a state of its own at {current.key}/ (lineage {current.lineage})",
                             hint=f"to drop it first: bria-pipeline state rm {ws.spec_path}; then run this again")
        former = had.get("spec")
        if former and former != ws.identity:  # the spec it was made for stops claiming it
            other = spec_file(former, ws.spec_path)
            if other.is_file():
                _drop_record(other, had.get("id"))
        opened = ws.open_state(write_local=True, check=False)
        store = opened.store
        if store.lineage.get("forgotten"):
            store.lineage.pop("forgotten", None)
        lineage.stamp(store, ws.desired, ws.identity, key)
        store.save()
        if opened.copy is not None:
            opened.copy.push(store, with_outputs=False)
        ws.record_state(ws.load_lock(), store)
    return key, store.lineage["id"]


def rm(ws: Workspace) -> list[str]:
    """Stop using the spec's state; returns what was done, one line each."""
    from ..lockfile import load_lock

    ws.refuse_forgotten_backend()  # forgetting only here would let the next run with the backend adopt it again
    done = []
    lock = load_lock(ws.lock_path)
    backend = ws.backend
    if backend is not None and lock.state.get("backend") not in (None, public_url(backend.url)):
        backend = None  # the lock file records another backend: its state is not touched from here
    located = None
    if backend is not None:
        try:
            located = ws.locate()
        except LocateError:  # a copied folder's record, or a state that cannot be told apart: not touched
            done.append(f"left the states in {backend.url} as they are (none of them is told to be this spec's own)")
    if backend is not None and located is not None:
        with ws.run_lock("state rm"):
            had = lineage_of(read_state(backend.store, backend.key))
            try:
                verify(located, had, ws.spec_path)
                copied = False
            except LocateError:  # a copied folder's record: the state is the other spec's
                copied = True
            own = bool(had) and not copied and (not had.get("spec") or same_spec(had["spec"], ws.identity)
                                                or lineage.moved_here(had, ws.identity, ws.spec_path, located.lineage))
            if own and not had.get("forgotten"):
                opened = ws.open_state(write_local=True, check=False)
                opened.store.lineage = {**opened.store.lineage, "spec": None, "forgotten": now_iso()}
                if opened.copy is not None:
                    opened.copy.push(opened.store, with_outputs=False)
                done.append(f"marked the state at {backend.where('')} forgotten: it is kept, and "
                            f"`bria-pipeline state mv {backend.key} {ws.spec_path} --backend {backend.url}` adopts it again")
            elif had:
                done.append(f"left the state at {backend.where('')} as it is (it is the state of "
                            f"{had.get('spec') or 'no spec'})")
    if lock.state:
        lock.state = {}
        save_lock(lock, ws.lock_path)
        done.append(f"removed the state record from {ws.lock_path}")
    path = ws.state_dir / "state.json"  # the sync base (backend.json) stays: the outputs here came from that backend
    if path.exists():
        path.unlink()
        done.append(f"removed {path}")
    return done


def _drop_record(spec: Path, lineage_id: str | None) -> None:
    from ..lockfile import load_lock, lock_path_for

    path = lock_path_for(spec)
    lock = load_lock(path)
    if lock.state and (lineage_id is None or lock.state.get("lineage") == lineage_id):
        lock.state = {}
        save_lock(lock, path)
