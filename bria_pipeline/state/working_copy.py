"""The local working copy of a spec's backend: `.bria/<spec>/state.json` and `output_dir`.

    copy = WorkingCopy(backend, state_path, output_dir)
    snap = copy.open(write_local=True)       # state + manifest, from the backend or the working copy
    ...                                       # plan / apply work on local files, as without a backend
    copy.push(store, manifest)                # new files first, then manifest (CAS), then state (CAS)

Which side wins, per object, is decided against the *base* (`.bria/<spec>/backend.json`: the
backend versions this working copy was last synced with):

- backend unchanged since the base, working copy changed: the working copy (a push that failed
  mid-apply; nothing of it is lost), pushed at the end of the run;
- backend changed, working copy not (or absent: a fresh checkout): the backend's, written into
  the working copy;
- both changed: refused, with what to do; no working copy and no backend object: empty.

Reads are O(1) whatever the number of outputs: state.json and manifest.json (a consistent pair:
the state names the manifest version it was written with; a pair caught mid-push is read
again). Output files are not listed: every done output of the backend's manifest is in the
backend (files are uploaded before the manifest that names them), and a no-op fetches none.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from .manifest import JOURNAL_FILE, MANIFEST_FILE, Manifest, sha256_file
from ..output_names import thumbnail_name
from .backend import Backend
from .behind import backend_behind, paid_but_missing
from .errors import StateError, StateFileError
from .objects import ABSENT, Blob, ObjectConflict
from .store import StateStore

BASE_FILE = "backend.json"
GALLERY_FILE = "index.html"
SNAPSHOT_TRIES = 4


class BackendConflict(StateError):
    """The backend and the working copy both changed since they were last in sync."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_digest(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "backend"}
    return _sha(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def stored_files(manifest: Manifest | None) -> dict[str, str]:
    """file -> sha256 of every done output (what a backend manifest guarantees is stored)."""
    if manifest is None:
        return {}
    return {r.file: r.sha256 for r in manifest if r.status == "done" and r.file and r.sha256}


def stored_thumbnails(manifest: Manifest | None) -> set[str]:
    if manifest is None:
        return set()
    return {thumbnail_name(r.sha256) for r in manifest if r.status == "done" and r.kind == "image" and r.sha256}


def publishable(manifest: Manifest) -> Manifest:
    """The manifest as the backend may hold it: an output recorded done whose file is neither in
    the working copy (with its recorded sha256) nor in the backend is published as failed, so
    the backend's manifest never names a file it does not hold (the next apply makes it again,
    as it would locally)."""
    out = Manifest.from_bytes(manifest.output_dir, manifest.as_bytes())
    for record in out:
        found = manifest.files.get(record.file or "")
        if record.status == "done" and (found is None or found.sha256 != record.sha256):
            record.status, record.error = "failed", f"its file {record.file} was missing or changed when it was pushed"
    return out


@dataclass
class Snapshot:
    state: dict[str, Any] | None
    state_version: str | None
    manifest: bytes | None
    manifest_version: str | None


@dataclass
class Opened:
    store: StateStore
    manifest: Manifest | None
    stored: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # object -> "backend" | "working copy" | "none"


GalleryWriter = Callable[[Path, Manifest], Any]


class WorkingCopy:
    """`render_gallery(output_dir, manifest)` writes the gallery pushed with the outputs (a report:
    the commands layer hands it in, state/ does not reach up for it); None pushes no gallery."""

    def __init__(self, backend: Backend, state_path: Path, output_dir: Path | None,
                 render_gallery: GalleryWriter | None = None) -> None:
        self.backend = backend
        self.render_gallery = render_gallery
        self.state_path = Path(state_path)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.base_path = self.state_path.parent / BASE_FILE
        self.base: dict[str, Any] = self._read_base()
        self.remote_manifest: Manifest | None = None
        self._mutex = threading.Lock()  # one push at a time (the periodic one and the last one)

    # --- the base ---------------------------------------------------------------------------

    def _read_base(self) -> dict[str, Any]:
        try:
            data = json.loads(self.base_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("url") != self.backend.url or data.get("key") != self.backend.key:
            return {}  # synced with another backend: as good as none
        return data

    def _save_base(self) -> None:
        self.base.update(url=self.backend.url, key=self.backend.key)
        write_atomic(self.base_path, (json.dumps(self.base, indent=2, sort_keys=True) + "\n").encode("utf-8"))

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """state.json and manifest.json as one consistent pair (no lock needed)."""
        store = self.backend.store
        for _ in range(SNAPSHOT_TRIES):
            state_blob = store.read(self.backend.state_key)
            manifest_blob = store.read(self.backend.manifest_key) if self.output_dir is not None else None
            state = self._parse_state(state_blob)
            wanted = (state or {}).get("backend", {}).get("manifest_version") if state else None
            if self.output_dir is None or wanted is None or (manifest_blob is not None and manifest_blob.version == wanted):
                return Snapshot(state, state_blob.version if state_blob else None,
                                manifest_blob.data if manifest_blob else None, manifest_blob.version if manifest_blob else None)
        raise StateError(f"the backend {self.backend.where('')} kept changing while it was read",
                         hint="another run is pushing to it: try again in a moment")

    def _parse_state(self, blob: Blob | None) -> dict[str, Any] | None:
        if blob is None:
            return None
        try:
            data = json.loads(blob.data)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return data
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileError(self.backend.where("state.json"), f"not a usable state object ({exc})") from None

    def _local_state(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            return None
        return StateStore.load(self.state_path).as_data()

    def _local_manifest(self) -> Manifest | None:
        if self.output_dir is None or not ((self.output_dir / MANIFEST_FILE).exists() or (self.output_dir / JOURNAL_FILE).exists()):
            return None
        return Manifest.load(self.output_dir, observe=False)

    def _choose(self, what: str, local_digest: str | None, remote_version: str | None) -> str:
        base_version, base_digest = self.base.get(f"{what}_version"), self.base.get(f"{what}_sha")
        local_changed = local_digest is not None and local_digest != base_digest
        if remote_version is None:
            if local_digest is None:
                return "none"
            if not self.base and what == "state":  # never synced with this backend
                raise StateError(
                    f"this spec has local state ({self.state_path}) and the backend {self.backend.where('')} has none",
                    hint=f"move it there first: bria-pipeline state push SPEC --backend {self.backend.url}",
                )
            return "working copy"
        if remote_version == base_version:
            return "working copy" if local_changed else "backend"
        if local_digest is None or not local_changed and base_version is not None:
            return "backend"
        if base_version is None and what == "manifest" and local_digest is not None:
            raise BackendConflict(
                f"the output manifest in {self.output_dir} was not made from the backend {self.backend.where('')}, "
                "which has one too",
                hint="to take the backend's, move the local output folder away; to keep yours, push it with "
                     "bria-pipeline state push SPEC --backend URL",
            )
        if base_version is None:
            return "backend"  # state: the backend is the authority for a working copy never synced
        raise BackendConflict(
            f"the {what} changed both in the backend {self.backend.where('')} and in the working copy since they "
            "were last in sync (another run pushed while this one could not)",
            hint=f"keep the backend's: delete {self.state_path if what == 'state' else self.output_dir} and run again",
        )

    def open(self, *, write_local: bool) -> Opened:
        snap = self.snapshot()
        local_state = self._local_state()
        self._refuse_if_behind(snap, local_state)
        state_side = self._choose("state", state_digest(local_state) if local_state is not None else None,
                                  snap.state_version)
        if state_side == "backend":
            assert snap.state is not None
            store = StateStore(self.state_path, snap.state)
            if write_local:
                store.save()
                self.base.update(state_version=snap.state_version, state_sha=state_digest(store.as_data()))
        elif state_side == "working copy":
            store = StateStore.load(self.state_path)
        else:
            store = StateStore(self.state_path)
        manifest = None
        manifest_side = "none"
        remote = Manifest.from_bytes(self.output_dir, snap.manifest, source=self.backend.where("manifest.json")) \
            if snap.manifest is not None and self.output_dir is not None else None
        self.remote_manifest = remote
        if self.output_dir is not None:
            local = self._local_manifest()
            manifest_side = self._choose("manifest", _sha(local.as_bytes()) if local is not None else None,
                                         snap.manifest_version)
            if manifest_side == "backend":
                assert snap.manifest is not None
                if write_local:
                    write_atomic(self.output_dir / MANIFEST_FILE, snap.manifest)
                    (self.output_dir / JOURNAL_FILE).unlink(missing_ok=True)
                    self.base.update(manifest_version=snap.manifest_version, manifest_sha=_sha(snap.manifest))
                manifest = Manifest.from_bytes(self.output_dir, snap.manifest, source=self.backend.where("manifest.json"))
                manifest.observe()
            elif manifest_side == "working copy":
                manifest = Manifest.load(self.output_dir)
            else:
                manifest = Manifest(self.output_dir)
        if write_local:
            self._save_base()
        stored = stored_files(remote)
        if manifest is not None:
            manifest.mark_stored(stored)
        return Opened(store, manifest, stored, {"state": state_side, "manifest": manifest_side})

    def _refuse_if_behind(self, snap: Snapshot, local_state: dict[str, Any] | None) -> None:
        """A backend changed since the last sync to less than the working copy knows: refused (behind.py)."""
        if not self.base.get("state_version") or (snap.state_version == self.base.get("state_version")
                                                  and snap.manifest_version == self.base.get("manifest_version")):
            return
        local = self._local_manifest()
        missing = paid_but_missing(snap.state, json.loads(snap.manifest) if snap.manifest else None, local_state,
                                   json.loads(local.as_bytes()) if local is not None else None)
        if missing:
            raise backend_behind(missing, where=self.backend.where(""), state_path=self.state_path, url=self.backend.url)

    def manifest_signature(self) -> tuple:
        """Sizes and times of the working copy's manifest files: changed, something to push."""
        if self.output_dir is None:
            return ()
        out = []
        for name in (MANIFEST_FILE, JOURNAL_FILE):
            try:
                st = (self.output_dir / name).stat()
                out.append((name, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((name, None, None))
        return tuple(out)

    # --- files --------------------------------------------------------------------------------

    def fetch(self, files: list[str]) -> int:
        """Bring output files (relative to output_dir) into the working copy when missing there."""
        assert self.output_dir is not None
        fetched = 0
        for file in dict.fromkeys(files):
            target = self.output_dir / file
            if not target.is_file() and self.backend.store.get_file(self.backend.output_key(file), target):
                fetched += 1
        return fetched

    def fetch_thumbnails(self, manifest: Manifest) -> int:
        missing = [t for t in sorted(stored_thumbnails(manifest) & stored_thumbnails(self.remote_manifest))
                   if not (self.output_dir / t).is_file()]  # type: ignore[operator]
        return self.fetch(missing)

    # --- writing ------------------------------------------------------------------------------

    def push(self, store: StateStore, *, gallery: bool = True, with_outputs: bool = True) -> bool:
        """Files, then the manifest (as the working copy has it on disk), then the state, each only
        when changed. True if anything was written."""
        with self._mutex:
            manifest = self._local_manifest() if with_outputs else None
            if manifest is not None:
                manifest.observe()
                manifest.mark_stored(stored_files(self.remote_manifest))
            return self._push(store, manifest, gallery=gallery)

    def _push(self, store: StateStore, manifest: Manifest | None, *, gallery: bool) -> bool:
        pushed = False
        manifest_version = self.base.get("manifest_version")
        if manifest is not None and self.output_dir is not None:
            local = manifest.as_bytes()
            if _sha(local) != self.base.get("manifest_sha") or manifest_version is None and len(manifest):
                self._push_outputs(manifest, gallery=gallery)
                published = publishable(manifest)
                data = published.as_bytes()
                manifest_version = self._write(self.backend.manifest_key, data, "manifest")
                self._drop_stale(published)
                self.remote_manifest = published
                # the base is the working copy as it was pushed: unchanged since, the backend's is taken
                self.base.update(manifest_version=manifest_version, manifest_sha=_sha(local))
                self._save_base()
                pushed = True
        body = store.as_data()
        if state_digest(body) != self.base.get("state_sha") or self.base.get("state_version") is None:
            body["backend"] = {"manifest_version": manifest_version, "key": self.backend.key}
            text = (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            version = self._write(self.backend.state_key, text, "state")
            self.base.update(state_version=version, state_sha=state_digest(body))
            self._save_base()
            pushed = True
        return pushed

    def _write(self, key: str, data: bytes, what: str) -> str:
        expect = self.base.get(f"{what}_version") or ABSENT
        try:
            return self.backend.store.write(key, data, expect=expect)
        except ObjectConflict:
            raise BackendConflict(
                f"the {what} in the backend {self.backend.where('')} changed since this run read it: "
                "it was not overwritten (another run wrote it, or this run's lock was forced away)",
                hint="this run's work is kept in the working copy; check who holds the lock, then apply again",
            ) from None

    def _push_outputs(self, manifest: Manifest, *, gallery: bool) -> None:
        assert self.output_dir is not None
        stored = stored_files(self.remote_manifest)
        for file, sha in sorted(stored_files(manifest).items()):
            found = manifest.files.get(file)
            if stored.get(file) != sha and found is not None and found.local and found.sha256 == sha:
                self._put_file(file, self.output_dir / file)
        thumbs = stored_thumbnails(self.remote_manifest)
        for name in sorted(stored_thumbnails(manifest) - thumbs):
            if (self.output_dir / name).is_file():
                self._put_file(name, self.output_dir / name)
        if gallery and self.render_gallery is not None:
            self.fetch_thumbnails(manifest)
            self.render_gallery(self.output_dir, manifest)
            self._put_file(GALLERY_FILE, self.output_dir / GALLERY_FILE)

    def _put_file(self, name: str, path: Path) -> None:
        self.backend.store.write(self.backend.output_key(name), path.read_bytes())

    def _drop_stale(self, manifest: Manifest) -> None:
        """Files the backend held for outputs the manifest no longer names (moved aside, pruned)."""
        gone = sorted(set(stored_files(self.remote_manifest)) - set(stored_files(manifest)))
        gone += sorted(stored_thumbnails(self.remote_manifest) - stored_thumbnails(manifest))
        if gone:
            self.backend.store.delete_many([self.backend.output_key(f) for f in gone])

    # --- pull -----------------------------------------------------------------------------------

    def pull_outputs(self) -> tuple[int, int]:
        """Every output of the backend's manifest into the working copy, verified by sha256, plus
        the thumbnails and the gallery. Returns (fetched, already there)."""
        opened = self.open(write_local=True)
        manifest = opened.manifest
        if manifest is None:
            return 0, 0
        fetched = present = 0
        for file, sha in sorted(stored_files(self.remote_manifest).items()):
            target = self.output_dir / file  # type: ignore[operator]
            if target.is_file() and sha256_file(target) == sha:
                present += 1
                continue
            if not self.backend.store.get_file(self.backend.output_key(file), target):
                raise StateError(f"the backend has no {self.backend.where('outputs/' + file)}, which its manifest names")
            got = sha256_file(target)
            if got != sha:
                target.unlink(missing_ok=True)
                raise StateError(f"{self.backend.where('outputs/' + file)}: sha256 {got[:12]} is not the recorded {sha[:12]}",
                                 hint="the object was changed outside bria-pipeline; apply again to make it anew")
            fetched += 1
        self.fetch_thumbnails(manifest)
        self.backend.store.get_file(self.backend.output_key(GALLERY_FILE), self.output_dir / GALLERY_FILE)  # type: ignore[operator]
        return fetched, present
