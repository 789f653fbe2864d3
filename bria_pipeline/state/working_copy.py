"""The local working copy of a spec's backend: `.bria/<spec>/state.json` and `output_dir`.

    copy = WorkingCopy(backend, state_path, output_dir)
    opened = copy.open(write_local=True)     # the last commit (or the working copy's unpushed work)
    ...                                       # plan / apply work on local files, as without a backend
    copy.push(store)                          # new files, a segment of what changed, then ONE commit

A push commits by one compare-and-swap of the backend's root object (commit.py): output files and
the segment holding the records changed since the last commit are written first (immutable), then
the root naming them. A kill at any instant leaves the last commit readable and whole.

Cost per push is what changed, not the manifest: the records changed since the last push are read
from the tail of the working copy's journal (`manifest.journal` is append-only while a run goes
on), only their files are looked at and uploaded, and the segment holds only them. A push after
the journal was folded into manifest.json (the end of a run) compares the whole manifest once.

Which side wins, per part (state, manifest), is decided against the *base*
(`.bria/<spec>/backend.json`: what this working copy was last synced with):

- backend unchanged since the base, working copy changed: the working copy (a push that failed
  mid-apply; nothing of it is lost), pushed at the end of the run;
- backend changed, working copy not (or absent: a fresh checkout): the backend's, written into
  the working copy;
- both changed: refused, with what to do; no working copy and no backend object: empty.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from ..atomic import write_atomic
from ..output_names import THUMB_DIR, thumbnail_name
from .backend import Backend
from .behind import backend_behind, paid_but_missing
from .commit import Root, Segment, Snapshot, View, encode_segment, expect_of, held_keys, plan_merge, read_snapshot
from .errors import StateError
from .manifest import FORMAT_VERSION as MANIFEST_FORMAT
from .hashing import sha256_bytes, sha256_file
from .manifest import JOURNAL_FILE, MANIFEST_FILE, Manifest, has_manifest
from .objects import ObjectConflict
from .store import StateStore

if TYPE_CHECKING:  # imported where a run takes the lock
    from .remote_lock import RemoteLock

BASE_FILE = "backend.json"
BASE_FORMAT = 2
GALLERY_FILE = "index.html"
MISSING = "its file {file} was missing or changed when it was pushed"


class BackendConflict(StateError):
    """The backend and the working copy both changed since they were last in sync."""


def state_digest(data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    body = {k: v for k, v in data.items() if k != "backend"}
    return sha256_bytes(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def files_digest(output_dir: Path | None) -> str | None:
    """What the working copy's manifest files hold (manifest.json and its journal), None: neither."""
    if output_dir is None:
        return None
    parts, found = [], False
    for name in (MANIFEST_FILE, JOURNAL_FILE):
        try:
            parts.append((output_dir / name).read_bytes())
            found = True
        except FileNotFoundError:
            parts.append(b"")
    return sha256_bytes(b"\0".join(parts) + b"\0") if found else None


def stored_files(manifest: Manifest | None) -> dict[str, str]:
    """file -> sha256 of every done output (what a backend manifest guarantees is stored)."""
    if manifest is None:
        return {}
    return {r.file: r.sha256 for r in manifest if r.status == "done" and r.file and r.sha256}


def publishable(manifest: Manifest) -> Manifest:
    """The manifest as the backend may hold it: an output recorded done whose file is neither in
    the working copy (with its recorded sha256) nor in the backend is published as failed, so
    the backend's manifest never names a file it does not hold (the next apply makes it again,
    as it would locally)."""
    out = Manifest.from_bytes(manifest.output_dir, manifest.as_bytes())
    for record in out:
        found = manifest.files.get(record.file or "")
        if record.status == "done" and (found is None or found.sha256 != record.sha256):
            record.status, record.error = "failed", MISSING.format(file=record.file)
    return out


def _done(record: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return bool(record and record.get("status") == "done" and record.get("file") and record.get("sha256"))


StatSig = tuple[int, int, int, int]  # (device, inode, size, mtime_ns)
ManifestSignature = tuple[tuple[str, StatSig | None], ...]  # of manifest.json and its journal


def _stat_sig(path: Path) -> StatSig | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class JournalTail:
    """The part of `manifest.journal` not pushed yet. `read()`: the changes appended since the
    last read, or None when the files were replaced meanwhile (the journal folded into
    manifest.json): then the whole manifest must be compared."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.manifest_sig: StatSig | None = None
        self.journal: tuple[int, int] | None = None  # (dev, inode) of the journal being read
        self.offset = 0

    def reset(self) -> None:
        """From now on: what is appended after the files as they are."""
        self.manifest_sig = _stat_sig(self.output_dir / MANIFEST_FILE)
        journal = _stat_sig(self.output_dir / JOURNAL_FILE)
        self.journal = journal[:2] if journal else None
        self.offset = journal[2] if journal else 0

    def read(self) -> list[dict[str, Any]] | None:
        if _stat_sig(self.output_dir / MANIFEST_FILE) != self.manifest_sig:
            return None
        path = self.output_dir / JOURNAL_FILE
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if self.journal is None:
                    self.journal, self.offset = (st.st_dev, st.st_ino), 0
                elif self.journal != (st.st_dev, st.st_ino) or st.st_size < self.offset:
                    return None
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return [] if self.journal is None else None
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        entries = []
        for line in data[:end].split(b"\n"):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    return None
        self.offset += end
        return entries


@dataclass
class Opened:
    store: StateStore
    manifest: Manifest | None
    stored: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # part -> "backend" | "working copy" | "none"


@dataclass
class Changes:
    """Records changed since the last commit (None: dropped), as the manifest file writes them."""

    outputs: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, Any] = field(default_factory=dict)

    def add(self, other: Changes) -> None:
        self.outputs.update(other.outputs)
        self.prompts.update(other.prompts)

    def __bool__(self) -> bool:
        return bool(self.outputs or self.prompts)


def changes_of(entries: list[dict[str, Any]]) -> Changes:
    out = Changes()
    for entry in entries:
        if "output" in entry:
            record = dict(entry["output"])
            out.outputs[record.pop("key")] = record
        elif "structured_prompt" in entry:
            record = dict(entry["structured_prompt"])
            out.prompts[record.pop("inputs_hash")] = record
        elif "drop" in entry:
            out.outputs[entry["drop"]] = None
        elif "drop_structured_prompt" in entry:
            out.prompts[entry["drop_structured_prompt"]] = None
    return out


def image_thumbnails(body: dict[str, Any] | None) -> dict[str, str]:
    """thumbnail -> the file it is made from, for every done image of a manifest's JSON form."""
    return {thumbnail_name(r["sha256"]): r["file"] for r in ((body or {}).get("outputs") or {}).values()
            if _done(r) and r.get("kind") == "image"}


GalleryWriter = Callable[[Path, Manifest], object]  # what it returns is not used


class WorkingCopy:
    """`render_gallery(output_dir, manifest)` writes the gallery pushed with the outputs (a report:
    the commands layer hands it in, state/ does not reach up for it); None pushes no gallery."""

    syncs = True  # apply pushes while it runs (the request ids of billed answers within a second)

    def __init__(self, backend: Backend, state_path: Path, output_dir: Path | None,
                 render_gallery: GalleryWriter | None = None) -> None:
        self.backend = backend
        self.render_gallery = render_gallery
        self.state_path = Path(state_path)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.base_path = self.state_path.parent / BASE_FILE
        self.base: dict[str, Any] = self._read_base()
        self.root = Root()
        self.view = View()
        self._stored: dict[str, str] = {}  # file -> sha256 the backend holds (done records of the view)
        self._owner: dict[str, str] = {}  # file -> the key of the done record naming it
        self._tail = JournalTail(self.output_dir) if self.output_dir is not None else None
        self._compare_all = True  # the next push compares the whole manifest (no tail to read yet)
        self._unpushed = Changes()  # read from the journal, not committed yet (a push that failed)
        self._run_thumbs: set[str] = set()  # thumbnails of images committed by this run
        self._thumbs_sent: set[str] = set()
        self._due_before = False  # the root read said thumbnails may be missing (a killed run's)
        self._wrote_segments = False
        self._conflict: BackendConflict | None = None  # a commit found the root changed under it
        self._run_records = 0  # records this run committed (what a last merge may cost in proportion)
        self._mutex = threading.Lock()  # one push at a time (the periodic one and the last one)

    def lock(self, command: str, *, spec: str, timeout: float) -> RemoteLock:
        """The apply lock in the backend (create-if-absent, refreshed while the run goes on)."""
        from .remote_lock import RemoteLock

        return RemoteLock(self.backend, command=command, spec=spec, timeout=timeout)

    # --- the base ---------------------------------------------------------------------------

    def _read_base(self) -> dict[str, Any]:
        try:
            data = json.loads(self.base_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("url") != self.backend.url or data.get("key") != self.backend.key:
            return {}  # synced with another backend: as good as none
        return data

    def mark_synced(self, base: dict[str, Any]) -> None:
        """The backend holds what the working copy holds: `base` (the versions and digests of the
        state and the manifest) is the new sync point, written to backend.json."""
        self.base = base
        self._save_base()

    def _save_base(self) -> None:
        self.base.update(url=self.backend.url, key=self.backend.key, format=BASE_FORMAT)
        write_atomic(self.base_path, (json.dumps(self.base, indent=2, sort_keys=True) + "\n").encode("utf-8"))

    def _upgrade_base(self, snap: Snapshot, legacy_versions: tuple[str | None, str | None]) -> None:
        """A base written before root.json named object versions: unchanged since, it is the same
        sync point in the terms used now; anything else counts as changed."""
        base = self.base
        if not base or base.get("format") == BASE_FORMAT:
            return
        state_v, manifest_v = legacy_versions
        upgraded: dict[str, Any] = {"state_sha": base.get("state_sha")}
        if snap.root.legacy and base.get("state_version") == state_v and state_v is not None:
            upgraded["state_version"] = state_digest(snap.state)
        if snap.root.legacy and base.get("manifest_version") == manifest_v and manifest_v is not None:
            upgraded["manifest_version"] = snap.root.manifest_id
        local = self._local_manifest()
        if local is not None and sha256_bytes(local.as_bytes()) == base.get("manifest_sha"):
            upgraded["manifest_sha"] = files_digest(self.output_dir)
        self.base = upgraded

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The last commit, whole (no lock needed); it becomes what this copy commits over."""
        snap = read_snapshot(self.backend, with_manifest=self.output_dir is not None)
        self._take(snap)
        return snap

    def _take(self, snap: Snapshot) -> None:
        self._due_before = snap.root.gallery_due  # the last push lists outputs/.thumbs/ once
        self.root, self.view = snap.root, snap.view
        self._stored = {r["file"]: r["sha256"] for r in snap.view.outputs.values() if _done(r)}
        self._owner = {r["file"]: k for k, r in snap.view.outputs.items() if _done(r)}

    def _local_state(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            return None
        return StateStore.load(self.state_path).as_data()

    def _local_manifest(self) -> Manifest | None:
        if self.output_dir is None or not has_manifest(self.output_dir):
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
                     f"bria-pipeline state push SPEC --backend {self.backend.url}",
            )
        if base_version is None:
            return "backend"  # state: the backend is the authority for a working copy never synced
        raise BackendConflict(
            f"the {what} changed both in the backend {self.backend.where('')} and in the working copy since they "
            "were last in sync (another run pushed while this one could not)",
            hint=f"keep the backend's: delete {self.state_path if what == 'state' else self.output_dir} and run again",
        )

    def open(self, *, write_local: bool) -> Opened:
        legacy = self._legacy_versions() if self.base and self.base.get("format") != BASE_FORMAT else (None, None)
        snap = self.snapshot()
        self._upgrade_base(snap, legacy)
        local_state = self._local_state()
        remote_state = state_digest(snap.state)
        self._refuse_if_behind(snap, local_state)
        state_side = self._choose("state", state_digest(local_state), remote_state)
        if state_side == "backend":
            assert snap.state is not None
            store = StateStore(self.state_path, snap.state)
            if write_local:
                store.save()
                self.base.update(state_version=remote_state, state_sha=state_digest(store.as_data()))
        elif state_side == "working copy":
            store = StateStore.load(self.state_path)
        else:
            store = StateStore(self.state_path)
        manifest = None
        manifest_side = "none"
        if self.output_dir is not None:
            assert self._tail is not None
            manifest_side = self._choose("manifest", files_digest(self.output_dir), self.root.manifest_id)
            if manifest_side == "backend":
                manifest = Manifest.from_data(self.output_dir, self.view.as_manifest_json(),
                                              source=self.backend.where("root.json"))
                if write_local:  # the records as they are (no round trip through the record classes)
                    body = {"version": MANIFEST_FORMAT, "requests": manifest.money(), **self.view.as_manifest_json()}
                    write_atomic(self.output_dir / MANIFEST_FILE,
                                 (json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
                    (self.output_dir / JOURNAL_FILE).unlink(missing_ok=True)
                    self.base.update(manifest_version=self.root.manifest_id, manifest_sha=files_digest(self.output_dir))
                    self._tail.reset()
                    self._compare_all = False
                manifest.observe()
            elif manifest_side == "working copy":
                manifest = Manifest.load(self.output_dir)
            else:
                manifest = Manifest(self.output_dir)
                self._tail.reset()
                self._compare_all = False
        if write_local:
            self._save_base()
        if manifest is not None:
            manifest.mark_stored(self._stored)
        return Opened(store, manifest, dict(self._stored), {"state": state_side, "manifest": manifest_side})

    def _legacy_versions(self) -> tuple[str | None, str | None]:
        store = self.backend.store
        if store.read(self.backend.root_key) is not None:
            return None, None
        state, manifest = store.read(self.backend.state_key), store.read(self.backend.manifest_key)
        return (state.version if state else None), (manifest.version if manifest else None)

    def _refuse_if_behind(self, snap: Snapshot, local_state: dict[str, Any] | None) -> None:
        """A backend changed since the last sync to less than the working copy knows: refused (behind.py)."""
        if not self.base.get("state_version") or (state_digest(snap.state) == self.base.get("state_version")
                                                  and snap.root.manifest_id == self.base.get("manifest_version")):
            return
        local = self._local_records() if self.output_dir is not None else None
        missing = paid_but_missing(snap.state, snap.view.as_manifest_json(), local_state, local)
        if missing:
            raise backend_behind(missing, where=self.backend.where(""), state_path=self.state_path, url=self.backend.url)

    def manifest_signature(self) -> ManifestSignature:
        """Sizes and times of the working copy's manifest files: changed, something to push."""
        if self.output_dir is None:
            return ()
        return tuple((name, _stat_sig(self.output_dir / name)) for name in (MANIFEST_FILE, JOURNAL_FILE))

    # --- files --------------------------------------------------------------------------------

    def fetch(self, files: list[str]) -> int:
        """Bring output files (relative to output_dir) into the working copy when missing there."""
        if self.output_dir is None:
            return 0
        fetched = 0
        for file in dict.fromkeys(files):
            target = self.output_dir / file
            if not target.is_file() and self.backend.store.get_file(self.backend.output_key(file), target):
                fetched += 1
        return fetched

    def stored_thumbnails(self) -> set[str]:
        """The thumbnails of the committed done images: all in the backend unless the root says
        some may be missing (`gallery_due`: a run ended before it uploaded them)."""
        return set(self._image_files())

    def _image_files(self) -> dict[str, str]:
        return image_thumbnails({"outputs": self.view.outputs})

    def fetch_thumbnails(self, manifest: Manifest, absent: frozenset[str] | set[str] = frozenset()) -> int:
        """The thumbnails of `manifest`'s images the backend holds (except those known `absent`
        there) into the working copy, when missing here."""
        assert self.output_dir is not None
        mine = {thumbnail_name(r.sha256) for r in manifest if r.status == "done" and r.kind == "image" and r.sha256}
        missing = [t for t in sorted((mine & self.stored_thumbnails()) - absent) if not (self.output_dir / t).is_file()]
        return self.fetch(missing)

    def missing_thumbnails(self) -> set[str]:
        """The thumbnails of committed images the backend lacks: one listing of outputs/.thumbs/,
        made only when the root says some may be missing."""
        images = self._image_files()
        if not self.root.gallery_due or not images:
            return set()
        base = self.backend.output_key("")
        listed = {key[len(base):] for key in self.backend.store.list(self.backend.output_key(THUMB_DIR) + "/")}
        return set(images) - listed

    # --- writing ------------------------------------------------------------------------------

    def push(self, store: StateStore, *, gallery: bool = True, with_outputs: bool = True) -> bool:
        """New files, a segment of what changed, then one commit of the root. `gallery`: the last
        push of a run (the gallery is rendered and pushed, unreferenced objects collected).
        True if a commit was made."""
        with self._mutex:
            if self._conflict is not None:  # someone else committed: nothing more is written over it
                raise self._conflict
            if with_outputs and self.output_dir is not None:
                self._unpushed.add(self._changes())
            changes = self._unpushed
            state = store.as_data()
            answered = self._answers_first(changes)
            if answered:  # billed answers reach the backend before their files are uploaded
                self._commit(state, answered, final=False)
            published = self._publish(changes) if changes else Changes()
            committed = self._commit(state, published, final=gallery) or bool(answered)
            self._unpushed = Changes()
            if committed and with_outputs:
                self.base.update(manifest_version=self.root.manifest_id,
                                 manifest_sha=files_digest(self.output_dir) if gallery else None)
            if committed:
                self._save_base()
            if gallery and with_outputs and self.output_dir is not None and (
                    self._run_thumbs or published.outputs or self.root.gallery_due):
                self._push_gallery(state)
            if gallery and self._wrote_segments:
                self._collect()
                self._wrote_segments = False
            return committed

    def _changes(self) -> Changes:
        """What the working copy's manifest changed since the last push: the journal's new lines,
        or (the journal folded meanwhile, or never read) the whole manifest compared."""
        assert self._tail is not None and self.output_dir is not None
        entries = None if self._compare_all else self._tail.read()
        if entries is not None:
            return changes_of(entries)
        self._tail.reset()  # before reading: a line appended meanwhile is read again next time (idempotent)
        self._compare_all = False
        return self._differences(self._local_records())

    def _local_records(self) -> dict[str, Any]:
        """The working copy's manifest records in their JSON form: manifest.json with its journal
        replayed, read as plain JSON (the records are compared, not interpreted)."""
        assert self.output_dir is not None
        try:
            body = json.loads((self.output_dir / MANIFEST_FILE).read_bytes())
        except FileNotFoundError:
            body = {}
        except ValueError:  # not JSON: the manifest's own reader says where and why
            body = Manifest.load(self.output_dir, observe=False).to_json()
        outputs, prompts = dict(body.get("outputs") or {}), dict(body.get("structured_prompts") or {})
        if (self.output_dir / JOURNAL_FILE).exists():
            tail = JournalTail(self.output_dir)
            tail.manifest_sig = _stat_sig(self.output_dir / MANIFEST_FILE)  # the whole journal, from its start
            journal = tail.read()
            if journal is None:
                return Manifest.load(self.output_dir, observe=False).to_json()
            changes = changes_of(journal)
            for records, changed in ((outputs, changes.outputs), (prompts, changes.prompts)):
                for key, record in changed.items():
                    if record is None:
                        records.pop(key, None)
                    else:
                        records[key] = record
        return {"outputs": outputs, "structured_prompts": prompts}

    def _differences(self, body: dict[str, Any]) -> Changes:
        """What makes the committed records those of `body` (a manifest's JSON form)."""
        out = Changes()
        for mine, theirs, into in ((body.get("outputs", {}), self.view.outputs, out.outputs),
                                   (body.get("structured_prompts", {}), self.view.prompts, out.prompts)):
            into.update({k: v for k, v in mine.items() if theirs.get(k) != v})
            into.update({k: None for k in theirs if k not in mine})
        return out

    def _answers_first(self, changes: Changes) -> Changes:
        """Outputs done here whose file the backend lacks and whose request id it does not know
        yet: committed first as accepted (pending, with their request id), so a runner lost
        while their files upload polls those requests instead of paying again. Empty when every
        such request id is committed already (the usual case: the answer was pushed before)."""
        early = Changes()
        for key, record in changes.outputs.items():
            if not _done(record) or self._stored.get(record["file"]) == record["sha256"]:
                continue
            known = self.view.outputs.get(key) or {}
            if record.get("request_id") and known.get("request_id") != record["request_id"]:
                early.outputs[key] = {**record, "status": "pending"}
        if early:
            early.prompts.update(changes.prompts)
            early.outputs.update({k: v for k, v in changes.outputs.items() if k not in early.outputs and not _done(v)})
        return early

    def _publish(self, changes: Changes) -> Changes:
        """The changed records as the backend may hold them, their new files uploaded: an output
        recorded done whose file is neither here (with its sha256) nor in the backend is
        published as failed (the backend's manifest never names a file it does not hold)."""
        assert self.output_dir is not None
        out = Changes(prompts=dict(changes.prompts))
        for key, record in changes.outputs.items():
            if _done(record):
                assert record is not None
                file, sha = record["file"], record["sha256"]
                local = self._local_sha(record)
                if local == sha:
                    if self._stored.get(file) != sha:
                        self._put_file(file, self.output_dir / file)
                    if record.get("kind") == "image":
                        self._run_thumbs.add(thumbnail_name(sha))
                elif self._stored.get(file) != sha:
                    record = {**record, "status": "failed", "error": MISSING.format(file=file)}
            out.outputs[key] = record
        return out

    def _local_sha(self, record: dict[str, Any]) -> str | None:
        assert self.output_dir is not None
        path = self.output_dir / record["file"]
        try:
            st = path.stat()
        except OSError:
            return None
        if st.st_size == record.get("size") and st.st_mtime_ns == record.get("mtime_ns"):
            sha256: str | None = record["sha256"]
            return sha256
        return sha256_file(path) if path.is_file() else None

    def _commit(self, state: dict[str, Any], changes: Changes, *, final: bool, due: bool | None = None) -> bool:
        """Segments first, then the root by compare-and-swap. False: nothing to commit. `due`:
        the root's `gallery_due` (default: the last commit's, or this run has thumbnails to send)."""
        root, view = self.root, self.view
        gallery_due = due if due is not None else root.gallery_due or bool(self._run_thumbs - self._thumbs_sent)
        segments, held = list(root.segments), list(view.held)

        def after(kind: str, key: str) -> dict[str, Any] | None:
            mine, theirs = (changes.outputs, view.outputs) if kind == "o" else (changes.prompts, view.prompts)
            return mine[key] if key in mine else theirs.get(key)

        def write(keys: set[str], keep_drops: bool) -> Segment:
            outputs = {k[2:]: after("o", k[2:]) for k in keys if k[0] == "o"}
            prompts = {k[2:]: after("p", k[2:]) for k in keys if k[0] == "p"}
            if not keep_drops:
                outputs = {k: v for k, v in outputs.items() if v is not None}
                prompts = {k: v for k, v in prompts.items() if v is not None}
            name, data = encode_segment(outputs, prompts)
            self.backend.store.write(self.backend.object_key(name), data)
            self._wrote_segments = True
            return Segment(name, len(outputs) + len(prompts))

        changed = held_keys({k: v for k, v in changes.outputs.items() if view.outputs.get(k) != v},
                            {k: v for k, v in changes.prompts.items() if view.prompts.get(k) != v})
        if root.legacy and (view.outputs or view.prompts or changed):
            everything = held_keys(view.outputs, view.prompts) | changed  # the layout before root.json: all in one
            segments, held = [write(everything, False)], [everything]
        elif changed:
            segments.append(write(changed, bool(segments)))
            held.append(changed)
        self._run_records += len(changed)
        count = plan_merge(segments, final=final, run_records=self._run_records)
        if count:
            keys = set().union(*held[-count:])
            segments = segments[:-count] + [write(keys, count < len(segments))]
            held = held[:-count] + [keys]
        if (segments == root.segments and state_digest(state) == state_digest(root.state) and not root.legacy
                and gallery_due == root.gallery_due):
            return False
        new = root.next(state={k: v for k, v in state.items() if k != "backend"}, segments=segments,
                        gallery_due=gallery_due)
        try:
            new.version = self.backend.store.write(self.backend.root_key, new.to_bytes(), expect=expect_of(root))
        except ObjectConflict:
            raise self._conflicted(BackendConflict(
                f"the backend {self.backend.where('root.json')} was committed to since this run read it: "
                "it was not overwritten (another run wrote it, or this run's lock was forced away)",
                hint="this run's work is kept in the working copy; check who holds the lock, then apply again",
            )) from None
        gone = [s.name for s in root.segments if s not in segments]
        dropped_files = self._fold(changes)
        self.root, view.held = new, held
        self.base.update(state_version=state_digest(new.state), state_sha=state_digest(new.state))
        try:
            if gone:
                self.backend.store.delete_many([self.backend.object_key(n) for n in gone])
            if dropped_files:
                self.backend.store.delete_many([self.backend.output_key(f) for f in dropped_files])
        except StateError:
            pass  # unreferenced objects: collected by a later commit
        return True

    def _conflicted(self, exc: BackendConflict) -> BackendConflict:
        self._conflict = exc
        return exc

    def _fold(self, changes: Changes) -> list[str]:
        """The committed changes into the view; returns the files no record names any more."""
        view = self.view
        released = []
        for key, record in changes.outputs.items():
            old = view.outputs.get(key)
            if _done(old) and self._owner.get(old["file"]) == key:
                del self._owner[old["file"]]
                self._stored.pop(old["file"], None)
                released.append(old["file"])
            if _done(record):
                self._owner[record["file"]] = key
                self._stored[record["file"]] = record["sha256"]
        view.fold(changes.outputs, changes.prompts)
        return [f for f in released if f not in self._owner]

    def replace(self, store: StateStore, records: dict[str, Any] | None, gallery_due: bool | None = None) -> bool:
        """Commit `store` and (when given) exactly these manifest `records` (the JSON form of a
        published manifest, see `publishable`) and `gallery_due` (None: as it is): `state push`."""
        with self._mutex:
            changes = self._differences(records) if records is not None else Changes()
            committed = self._commit(store.as_data(), changes, final=True, due=gallery_due)
            if records is not None:
                self.base.update(manifest_version=self.root.manifest_id, manifest_sha=files_digest(self.output_dir))
            self._save_base()
            return committed

    def _push_gallery(self, state: dict[str, Any]) -> None:
        """The thumbnails of this run's images and, when the root read first said some may be
        missing (a killed run's), those the backend lacks: made here when missing (their images
        fetched first), uploaded, then the gallery; then a commit clears `gallery_due`."""
        assert self.output_dir is not None
        images = self._image_files()
        absent = self.missing_thumbnails() if self._due_before else set()
        due = ((self._run_thumbs - self._thumbs_sent) | absent) & set(images)
        if self.render_gallery is not None:
            self.fetch([images[t] for t in sorted(due) if not (self.output_dir / t).is_file()])
            manifest = Manifest.from_data(self.output_dir, self.view.as_manifest_json())
            manifest.observe()
            manifest.mark_stored(self._stored)
            self.fetch_thumbnails(manifest, absent)
            self.render_gallery(self.output_dir, manifest)  # makes the thumbnails of the images here
        for name in sorted(due):
            if (self.output_dir / name).is_file():
                self._put_file(name, self.output_dir / name)
                self._thumbs_sent.add(name)
        if self.render_gallery is not None and (self.output_dir / GALLERY_FILE).is_file():
            self._put_file(GALLERY_FILE, self.output_dir / GALLERY_FILE)
        self._run_thumbs.clear()
        # left due: a thumbnail not made because its image could not be had here (one made from
        # an image here that is none, a renderer tried and could not: never will, not kept)
        left = any(self.render_gallery is None or not (self.output_dir / images[t]).is_file()
                   for t in due - self._thumbs_sent)
        self._due_before = left
        if left != self.root.gallery_due:
            self._commit(state, Changes(), final=True, due=left)

    def _put_file(self, name: str, path: Path) -> None:
        self.backend.store.write(self.backend.output_key(name), path.read_bytes())

    def _collect(self) -> int:
        """Delete the segments no root names (left by a run killed before its commit). Only the
        lock holder commits, so nothing else is writing segments now."""
        named = {self.backend.object_key(s.name) for s in self.root.segments}
        try:
            garbage = [k for k in self.backend.store.list(self.backend.objects_prefix) if k not in named]
            if garbage:
                self.backend.store.delete_many(garbage)
        except StateError:
            return 0
        return len(garbage)

    # --- pull -----------------------------------------------------------------------------------

    def pull_outputs(self) -> tuple[int, int]:
        """Every output of the backend's manifest into the working copy, verified by sha256, plus
        the thumbnails and the gallery. Returns (fetched, already there)."""
        opened = self.open(write_local=True)
        manifest = opened.manifest
        if manifest is None:
            return 0, 0
        fetched = present = 0
        for file, sha in sorted(self._stored.items()):
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
        absent = self.missing_thumbnails()
        self.fetch_thumbnails(manifest, absent)
        self.backend.store.get_file(self.backend.output_key(GALLERY_FILE), self.output_dir / GALLERY_FILE)  # type: ignore[operator]
        if absent and self.render_gallery is not None:  # the backend lacks some: made here
            self.render_gallery(self.output_dir, manifest)  # type: ignore[arg-type]
        return fetched, present


def read_committed(backend: Backend) -> Snapshot:
    """The backend's last commit (state and manifest records), for `show`-like readers and tests."""
    return read_snapshot(backend, with_manifest=True)
