"""`refresh`: rebuild `.bria/` from the remote: records of everything the spec owns, intents resolved.
Changes nothing remote."""

from __future__ import annotations

from ..state import lineage
from ..state.observe import record_owned
from ..state.observed import Observed
from ..state.store import StateStore
from .workspace import Workspace


async def refresh(ws: Workspace) -> Observed:
    """The rebuilt state's view of the remote; `observed.requests` says what it cost."""
    with ws.run_lock("refresh"):
        located = ws.locate()
        if located is not None:  # a working copy of another spec's state (a copied folder) is not this spec's
            local = StateStore.for_spec(ws.spec_path)
            if lineage.mismatch(local, ws.desired, ws.identity, None, spec_path=ws.spec_path,
                                lineage_id=located.lineage):
                local.path.unlink(missing_ok=True)
        opened = ws.open_state(write_local=True, check=False)
        old = opened.store
        store = StateStore(old.path)
        adopt = lineage.mismatch(old, ws.desired, ws.identity, ws.backend_key, spec_path=ws.spec_path,
                                 lineage_id=located.lineage if located is not None else None)
        if adopt is None:  # this spec's own state: keep what only it knows (renamed resources, intents)
            store.intents = list(old.intents)
            store.last_apply = old.last_apply
            store.reset_records([r for r in old.records if r.kind == "project"])
            old_records = old.records
        else:  # another spec's state: adopt by name, keep nothing of it
            old_records = []
        lineage.stamp(store, ws.desired, ws.identity, ws.backend_key, fresh=adopt is not None)
        async with ws.observing(images=False, store=store) as seen:
            observed = seen.observed
        if observed.project is not None:
            # keep the records of renamed resources the old state knew about
            ids = {d.id for d in observed.datasets} | {m.id for m in observed.models}
            for record in old_records:
                if record.kind != "project" and record.id in ids and not any(
                    r.kind == record.kind and r.id == record.id for r in store.records
                ):
                    store.record(record.kind, record.id, record.name, record.key, save=False)
            record_owned(store, ws.desired, observed.project, list(observed.datasets), list(observed.models))
        else:
            store.reset_records([])
        opened.persist(store)  # where the state lives (a backend: one commit)
        if opened.copy is not None:
            ws.record_state(ws.load_lock(), store)
    return observed
