"""How a backend commits: one small root object names everything else, and is swapped by one
compare-and-swap (as Iceberg and Delta Lake commit a table).

    snap = read_snapshot(backend, with_manifest=True)     # root + the segments it names
    snap.root.serial, snap.root.state, snap.view.outputs  # the last commit, whole
    root = snap.root.next(state=..., segments=[...], gallery_due=...)  # serial + 1, same lineage
    write_root(backend, root, expect=snap.root.version)   # the commit; ObjectConflict: someone else's

``root.json`` holds the serial, the lineage id, the state (records and intents: bounded by the
remote resources, not by the outputs) and the list of manifest *segments*. A segment is a gzip'd
JSON object of output and structured-prompt records (``null``: dropped), named by the sha256 of
its bytes and never rewritten; a later segment's record replaces an earlier one's. A run writes a
segment of what changed since its last commit, then the root; merged segments replace runs of
small ones (sizes stay geometric, so a record is rewritten a few times, not once per commit).
``gallery_due`` (present only when true) says that thumbnails of committed images may be missing
from ``outputs/.thumbs/`` and the gallery may not show them: set by the commits made while a run
goes on, cleared by its last push once it uploaded them and the gallery. A run killed in between
leaves it set: the next run lists ``outputs/.thumbs/`` once and uploads what is missing.

A kill, a timeout or an outage at any instant leaves the root as it was: the last commit is read
whole, and segments written after it are named by no root (collected by the next commit that
lists ``objects/``; never read). A reader needs no lock: a segment missing under a root is read
again from a newer root (a commit merged it away meanwhile).

A backend written before root.json (``state.json`` + ``manifest.json``) is read as a commit of
serial 0, whatever pair it holds (a push killed between the two left them unmatched: the manifest
is the newer, its files were uploaded first); the next commit writes root.json.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from .backend import MANIFEST_OBJECT, STATE_OBJECT, Backend
from .errors import StateError, StateFileError
from .hashing import sha256_bytes, sha256_text
from .objects import ABSENT

FORMAT = 2
SNAPSHOT_TRIES = 4
MAX_SEGMENTS = 12  # more than this after a commit: the smallest tail is merged
MERGE_FACTOR = 2  # a segment not more than twice the size of the next one is merged with it
FINAL_FACTOR = 4  # at a run's end, all is merged into one when that is at most 4x what the run committed
FINAL_SLACK = 16  # ... or the manifest is that small

Records = dict[str, Any]  # key -> the record's JSON (as the manifest writes it), None: dropped


@dataclass(frozen=True)
class Segment:
    name: str  # objects/<name>
    records: int  # outputs + structured prompts in it (its weight for merging)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "records": self.records}


@dataclass
class Root:
    serial: int = 0
    lineage: str | None = None
    state: dict[str, Any] | None = None
    segments: list[Segment] = field(default_factory=list)
    version: str | None = None  # the store's version of root.json as read; None: never committed
    legacy: bool = False  # read from the layout before root.json
    # thumbnails of done images this root names may be missing from the backend (committed by a
    # run that ended before its gallery was pushed): the next run's last push makes and uploads them
    gallery_due: bool = False

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {"format": FORMAT, "serial": self.serial, "lineage": self.lineage,
                                "segments": [s.to_json() for s in self.segments], "state": self.state}
        if self.gallery_due:  # absent when false: a root without it reads as nothing due
            body["gallery_due"] = True
        return (json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, where: str, version: str) -> Root:
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format') if isinstance(body, dict) else '?'!r} is not {FORMAT}")
            segments = [Segment(str(s["name"]), int(s["records"])) for s in body.get("segments") or []]
            state = body.get("state")
            if state is not None and not isinstance(state, dict):
                raise ValueError("its state is not an object")
            return cls(int(body.get("serial") or 0), body.get("lineage"), state, segments, version,
                       gallery_due=body.get("gallery_due") is True)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            raise StateFileError(where, f"not a usable root object ({exc})",
                                 hint="restore it from the store's object versions, or remove it and run "
                                      "`bria-pipeline refresh SPEC` to rebuild the state from the remote") from None

    @property
    def manifest_id(self) -> str | None:
        """Which manifest this root names (its segments), None when it names none."""
        if not self.segments and not self.legacy:
            return None
        return sha256_text("\n".join(s.name for s in self.segments))[:32] \
            if not self.legacy else "legacy"

    def next(self, *, state: dict[str, Any] | None, segments: list[Segment], gallery_due: bool) -> Root:
        lineage = ((state or {}).get("lineage") or {}).get("id") or self.lineage
        return Root(self.serial + 1, lineage, state, segments, None, gallery_due=gallery_due)


@dataclass
class View:
    """The manifest a root names: the segments folded, and which keys each segment holds."""

    outputs: Records = field(default_factory=dict)
    prompts: Records = field(default_factory=dict)
    held: list[set[str]] = field(default_factory=list)  # per segment: "o:KEY" / "p:HASH"

    def fold(self, outputs: Records, prompts: Records) -> None:
        for key, record in outputs.items():
            if record is None:
                self.outputs.pop(key, None)
            else:
                self.outputs[key] = record
        for key, record in prompts.items():
            if record is None:
                self.prompts.pop(key, None)
            else:
                self.prompts[key] = record

    def as_manifest_json(self) -> dict[str, Any]:
        """The records in the manifest file's order (outputs by name, prompts by set)."""
        return {"outputs": dict(sorted(self.outputs.items(), key=lambda kv: (kv[1].get("name") or "", kv[0]))),
                "structured_prompts": dict(sorted(self.prompts.items(), key=lambda kv: (kv[1].get("set") or "", kv[0])))}


@dataclass
class Snapshot:
    root: Root
    view: View

    @property
    def state(self) -> dict[str, Any] | None:
        return self.root.state


def encode_segment(outputs: Records, prompts: Records) -> tuple[str, bytes]:
    # the records' fields in the order the manifest writes them: read back, they are written out as they were
    body = json.dumps({"format": FORMAT, "outputs": dict(sorted(outputs.items())),
                       "structured_prompts": dict(sorted(prompts.items()))},
                      ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    data = gzip.compress(body, compresslevel=6, mtime=0)
    return f"{sha256_bytes(data)}.json.gz", data


def decode_segment(data: bytes, where: str) -> tuple[Records, Records]:
    try:
        body = json.loads(gzip.decompress(data))
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError("not a manifest segment")
        return dict(body.get("outputs") or {}), dict(body.get("structured_prompts") or {})
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise StateFileError(where, f"not a usable manifest segment ({exc})",
                             hint="a segment is never rewritten: restore it from the store's object versions") from None


def held_keys(outputs: Records, prompts: Records) -> set[str]:
    return {f"o:{k}" for k in outputs} | {f"p:{k}" for k in prompts}


class _Moved(Exception):
    """A segment named by the root was gone: a newer commit merged it away."""


def read_snapshot(backend: Backend, *, with_manifest: bool) -> Snapshot:
    """The last commit, whole: root.json and the segments it names (or the layout before it)."""
    store = backend.store
    for _ in range(SNAPSHOT_TRIES):
        blob = store.read(backend.root_key)
        if blob is None:
            return _read_legacy(backend, with_manifest=with_manifest)
        root = Root.from_bytes(blob.data, backend.where("root.json"), blob.version)
        view = View()
        if not with_manifest:
            return Snapshot(root, view)
        try:
            for segment in root.segments:
                got = store.read(backend.object_key(segment.name))
                if got is None:
                    raise _Moved
                outputs, prompts = decode_segment(got.data, backend.where(f"objects/{segment.name}"))
                view.fold(outputs, prompts)
                view.held.append(held_keys(outputs, prompts))
        except _Moved:
            continue
        return Snapshot(root, view)
    raise StateError(f"the backend {backend.where('root.json')} names manifest segments that are not in "
                     f"{backend.where('objects/')}",
                     hint="a segment is never deleted while a root names it: restore the missing objects from "
                          "the store's object versions, or an older root.json")


def old_layout_leftovers(backend: Backend) -> list[str]:
    """Where the objects of the layout before root.json are, when a root.json is beside them: the
    first commit migrated them, nothing reads them since; they are left in place (nothing in a
    team's bucket is deleted unasked) and can be deleted by hand. Reads up to three objects."""
    store = backend.store
    if store.read(backend.root_key) is None:
        return []  # the old layout, still the one in use
    return [backend.where(name) for key, name in ((backend.state_key, STATE_OBJECT), (backend.manifest_key, MANIFEST_OBJECT))
            if store.read(key) is not None]


def _read_legacy(backend: Backend, *, with_manifest: bool) -> Snapshot:
    """state.json and manifest.json as found, matched or not (a push killed between them)."""
    store = backend.store
    state_blob = store.read(backend.state_key)
    manifest_blob = store.read(backend.manifest_key) if with_manifest else None
    if state_blob is None and manifest_blob is None:
        return Snapshot(Root(), View())
    state = None
    if state_blob is not None:
        try:
            state = json.loads(state_blob.data)
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileError(backend.where("state.json"), f"not a usable state object ({exc})") from None
        state.pop("backend", None)
    view = View()
    if manifest_blob is not None:
        try:
            body = json.loads(manifest_blob.data)
            view.fold(dict(body.get("outputs") or {}), dict(body.get("structured_prompts") or {}))
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise StateFileError(backend.where("manifest.json"), f"not a usable manifest ({exc})") from None
    lineage = ((state or {}).get("lineage") or {}).get("id")
    return Snapshot(Root(0, lineage, state, [], None, legacy=True), view)


def plan_merge(segments: list[Segment], *, final: bool, run_records: int = 0) -> int:
    """How many segments at the tail to merge into one (0 or 1: none). Sizes stay geometric while
    a run commits; at its end (`final`), everything is merged into one segment when that costs at
    most FINAL_FACTOR times the records the run committed (`run_records`), so the next reader
    reads two objects, and a run's cost stays proportional to what it changed."""
    if len(segments) < 2:
        return 0
    if final and sum(s.records for s in segments) <= FINAL_FACTOR * run_records + FINAL_SLACK:
        return len(segments)
    count, tail = 1, segments[-1].records
    while count < len(segments):
        before = segments[-count - 1].records
        if before <= MERGE_FACTOR * tail or len(segments) - count + 1 > MAX_SEGMENTS:
            count += 1
            tail += before
        else:
            break
    return count if count > 1 else 0


def expect_of(root: Root) -> str:
    return root.version if root.version is not None else ABSENT
