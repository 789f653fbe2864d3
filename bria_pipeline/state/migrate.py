"""`bria-pipeline state push SPEC --backend URL`: a spec's local state and outputs into a backend.

Order, so an interrupted push is resumed by running it again and never leaves a backend whose
manifest names a file it does not hold:

1. every output file the manifest records as done: uploaded, then read back and its sha256
   compared with the manifest's (a file already there with the right content is only checked);
2. thumbnails and the gallery (when one of an image is not here, the root says so: `gallery_due`,
   the next apply makes it);
3. one commit: a segment holding every record, then the root naming it and the state with its
   lineage (one compare-and-swap).

Run on a backend already holding exactly this state and manifest, it reads the last commit and
stops. A backend holding another lineage's state for the same key is refused.
"""

from __future__ import annotations

from .hashing import sha256_bytes, sha256_file
from .manifest import Manifest, has_manifest
from ..output_names import THUMB_DIR
from .errors import StateError
from .locate import LocatingCopy
from .store import StateStore
from .working_copy import (GALLERY_FILE, WorkingCopy, files_digest, image_thumbnails, publishable, state_digest,
                           stored_files)


def push_local_state(copy: WorkingCopy | LocatingCopy, store: StateStore) -> str:
    backend = copy.backend
    snap = copy.snapshot()
    output_dir = copy.output_dir
    manifest = Manifest.load(output_dir) if output_dir is not None and has_manifest(output_dir) else None
    if snap.state is not None:
        theirs = (snap.state.get("lineage") or {}).get("id")
        if theirs and store.lineage.get("id") and theirs != store.lineage.get("id"):
            raise StateError(
                f"the backend {backend.where('root.json')} already holds the state of another lineage ({theirs}, "
                f"project {(snap.state.get('lineage') or {}).get('project')!r}); nothing was pushed",
                hint="push to another backend URL, or remove that state first if it is obsolete",
            )
    same_state = snap.state is not None and state_digest(snap.state) == state_digest(store.as_data())
    body = publishable(manifest).to_json() if manifest is not None else None
    same_manifest = body is None or (body["outputs"] == snap.view.outputs
                                     and body["structured_prompts"] == snap.view.prompts and not snap.root.legacy)
    if same_state and same_manifest and not (snap.root.gallery_due and body is not None):  # else: thumbnails to push
        copy.mark_synced({"state_version": state_digest(snap.state), "state_sha": state_digest(store.as_data()),
                          "manifest_version": snap.root.manifest_id, "manifest_sha": files_digest(output_dir)})
        return f"{backend.where('')}: already holds this state and these outputs; nothing to push"
    uploaded = checked = missing = 0
    due: bool | None = None
    if manifest is not None and output_dir is not None:
        listed = backend.store.list(backend.outputs_prefix)
        for file, sha in sorted(stored_files(manifest).items()):
            path = output_dir / file
            if not path.is_file():
                missing += 1
                continue
            if sha256_file(path) != sha:
                raise StateError(f"{path}: its content is not what the manifest recorded (sha256 {sha[:12]})",
                                 hint="it was changed by hand: apply first (it keeps the changed file aside and "
                                      "makes the output again), then push")
            key = backend.output_key(file)
            if listed.get(key) == path.stat().st_size and _remote_sha(copy, key) == sha:
                checked += 1
                continue
            backend.store.write(key, path.read_bytes())
            if _remote_sha(copy, key) != sha:
                raise StateError(f"{backend.where('outputs/' + file)}: read back with another sha256 than {sha[:12]}",
                                 hint="the backend altered the upload: check it, then run state push again")
            uploaded += 1
        for path in sorted((output_dir / THUMB_DIR).glob("*.jpg")) if (output_dir / THUMB_DIR).is_dir() else ():
            backend.store.write(backend.output_key(f"{THUMB_DIR}/{path.name}"), path.read_bytes())
        due = any(not (output_dir / t).is_file() for t in image_thumbnails(body))  # made by a later apply
        if (output_dir / GALLERY_FILE).is_file():
            backend.store.write(backend.output_key(GALLERY_FILE), (output_dir / GALLERY_FILE).read_bytes())
    copy.replace(store, body, due)  # the commit: one compare-and-swap of the root naming it all
    store.save()
    gaps = f"; {missing} output(s) recorded done have no local file (the next apply makes them again)" if missing else ""
    return (f"Pushed the state and {uploaded} output file(s) to {backend.where('')} ({checked} already there, "
            f"verified by sha256){gaps}. Later runs read and write it there.")


def _remote_sha(copy: WorkingCopy | LocatingCopy, key: str) -> str | None:
    blob = copy.backend.store.read(key)
    return sha256_bytes(blob.data) if blob is not None else None
