"""Backend commands: `pull` (outputs from the backend into output_dir), `force-unlock`, `state push`.
None of them sends an API request."""

from __future__ import annotations

from typing import Any

from ..state import lineage
from ..state.store import StateStore
from .workspace import Workspace


def pull(ws: Workspace) -> tuple[int, int]:
    """Fetch every output (verified by sha256), the thumbnails and the gallery from the backend
    into output_dir, and the state into .bria/. Returns (fetched, already there)."""
    ws.require_backend("pull")
    if ws.desired.generation is None:
        ws.working_copy().open(write_local=True)
        return 0, 0
    counts: tuple[int, int] = ws.working_copy().pull_outputs()  # the working copy's, through LocatingCopy
    return counts


def force_unlock(ws: Workspace, lock_id: str) -> dict[str, Any]:
    """Release the backend lock if `lock_id` holds it; returns the holder it named."""
    from ..state.remote_lock import force_unlock as release

    return release(ws.require_backend("force-unlock"), str(ws.spec_path), lock_id)


def state_push(ws: Workspace) -> str:
    """Move local state and outputs into the backend: idempotent, resumable, verified by hash."""
    from ..apply.relocate import settle_outputs
    from ..state.migrate import push_local_state

    backend = ws.require_backend("state push")
    with ws.run_lock("state push"):
        store = StateStore.for_spec(ws.spec_path)
        lineage.check(store, ws.desired, ws.identity, None, where=store.path, spec_arg=str(ws.spec_path),
                      spec_path=ws.spec_path)
        lineage.stamp(store, ws.desired, ws.identity, backend.key)
        settle_outputs(ws.desired)  # outputs still in the old shared outputs/ folder move in first
        report = push_local_state(ws.working_copy(), store)
        ws.record_state(ws.load_lock(), store)  # where the state now lives, in the committed lock file
        return report
