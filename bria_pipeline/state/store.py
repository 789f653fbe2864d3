"""`.bria/<spec>/state.json`: what this runner remembers between runs. A cache, never the authority.

It holds

- *records*: the remote ids of what this spec created or imported (project, dataset versions,
  model versions), with the name it gave them and the spec key they belong to. They let a plan
  recognise a resource renamed in the Console, and find resources of keys since removed from the
  spec. Existence is always decided by listing the remote; `refresh` rebuilds the records from it.
- *intents*: "creating dataset lucy-3fa2c1d9 in project 12 at T", written (fsynced) BEFORE the
  request leaves, and cleared the moment the answer arrives, with the id recorded. An intent found
  on the next run means the answer was never seen: it is resolved by reading (list, match the
  deterministic name), never by sending again blindly.
- *last_apply*: when the last apply started and how it ended, for `show` and resume hints.
- *lineage*: which spec this state belongs to (see `lineage.py`); a state made for another spec
  is refused before any request.

Every change is written atomically (temp file, fsync, rename). Images are not recorded: their
names carry content hashes, so listing a dataset says exactly which are there.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..confined import UnsafeFile, private_dir, read_regular
from .clock import now_iso
from .errors import StateFileError
from .observed import Recorded

STATE_VERSION = 1
STATE_DIR = ".bria"
MAX_STATE_BYTES = 64 * 1024 * 1024


def state_dir_for(spec_path: Path) -> Path:
    """``specs/lucy.yaml`` -> ``specs/.bria/lucy/``: one state per spec, beside it.

    A ``.bria`` (or ``.bria/lucy``) that is a symbolic link is refused (StateFileError): a
    committed link must not redirect where state, locks and caches are written.
    """
    spec_path = Path(spec_path)
    try:
        return private_dir(spec_path.parent, STATE_DIR, spec_path.stem)
    except UnsafeFile as exc:
        raise StateFileError(exc.path, exc.message, hint=exc.hint) from None


@dataclass(frozen=True)
class Intent:
    """A creating or billing request about to leave (or whose answer was never seen)."""

    id: str
    op: str  # create_project, create_dataset, clone_dataset, create_model, start_training, bulk_upload
    kind: str  # project, dataset, model
    name: str  # the deterministic name it is found by
    address: str
    key: str | None = None
    parent_id: int | None = None  # the project (or model, for start_training) it happens in
    started_at: str = ""

    def describe(self) -> str:
        where = f" in {self.parent_id}" if self.parent_id is not None else ""
        return f"{self.op} {self.name}{where} at {self.started_at}"


class StateStore:
    """The state file of one spec. Load with `StateStore.load(path)`; every mutation saves."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        data = data or {}
        self.records: list[Recorded] = [Recorded(**r) for r in data.get("records", [])]
        self.intents: list[Intent] = [Intent(**i) for i in data.get("intents", [])]
        self.last_apply: dict[str, Any] = dict(data.get("last_apply") or {})
        self.lineage: dict[str, Any] = dict(data.get("lineage") or {})  # whose state this is (lineage.py)

    @classmethod
    def for_spec(cls, spec_path: Path) -> StateStore:
        return cls.load(state_dir_for(spec_path) / "state.json")

    @classmethod
    def load(cls, path: Path) -> StateStore:
        path = Path(path)
        hint = f"delete {path} and run `bria-pipeline refresh SPEC`: it is rebuilt from the remote"
        try:
            raw = read_regular(path, max_bytes=MAX_STATE_BYTES, inside=path.parent)
        except FileNotFoundError:
            return cls(path)
        except UnsafeFile as exc:
            raise StateFileError(path, exc.message, hint=hint) from None
        except OSError as exc:
            raise StateFileError(path, f"cannot read: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateFileError(path, f"not a state file: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not "
                                 "UTF-8 (the file is damaged)", hint=hint) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StateFileError(path, f"not a usable state file (not JSON: {exc})", hint=hint) from None
        if not isinstance(data, dict):
            raise StateFileError(path, "not a usable state file (not a JSON object)", hint=hint)
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION:
            raise StateFileError(path, f"written by a newer bria-pipeline (state version {version}; this one reads "
                                 f"version {STATE_VERSION})",
                                 hint="upgrade bria-pipeline to the version that wrote it (pip install --upgrade "
                                      "bria-pipeline, or the version your CI pins); the file is left as it is")
        if version != STATE_VERSION:
            raise StateFileError(path, f"not a usable state file (state version {version!r} is not supported)", hint=hint)
        try:
            return cls(path, data)
        except (ValueError, TypeError, AttributeError):  # a record with missing or unknown fields
            raise StateFileError(path, "not a usable state file (a record has missing or unknown fields: the file "
                                 "was edited, or written by another version)", hint=hint) from None

    # --- persistence ----------------------------------------------------------------------------

    def as_data(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "records": [asdict(r) for r in sorted(self.records, key=lambda r: (r.kind, r.id))],
            "intents": [asdict(i) for i in self.intents],
            "last_apply": self.last_apply,
            **({"lineage": self.lineage} if self.lineage else {}),
        }

    def save(self) -> None:
        text = json.dumps(self.as_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            write_atomic(self.path, text.encode("utf-8"))
        except OSError as exc:
            raise StateFileError(self.path, f"cannot write: {exc.strerror or exc}") from None

    # --- records --------------------------------------------------------------------------------

    def recorded(self) -> tuple[Recorded, ...]:
        return tuple(self.records)

    def project_id(self) -> int | None:
        for record in self.records:
            if record.kind == "project":
                return record.id
        return None

    def record(self, kind: str, id: int, name: str, key: str | None = None, *, save: bool = True) -> None:
        """Remember a remote resource this spec owns (one project per state)."""
        previous = next((r for r in self.records if r.kind == kind and r.id == int(id)), None)
        keep = [r for r in self.records if not (r.kind == kind and (r.id == id or kind == "project"))]
        keep.append(Recorded(kind=kind, id=int(id), name=name, key=key).carried_from(previous))
        changed = keep != self.records
        self.records = keep
        if save and changed:
            self.save()

    def forget(self, kind: str, id: int, *, save: bool = True) -> None:
        before = len(self.records)
        self.records = [r for r in self.records if not (r.kind == kind and r.id == id)]
        if save and len(self.records) != before:
            self.save()

    def reset_records(self, records: list[Recorded]) -> None:
        self.records = list(records)

    # --- intents --------------------------------------------------------------------------------

    def begin(
        self,
        op: str,
        *,
        kind: str,
        name: str,
        address: str,
        key: str | None = None,
        parent_id: int | None = None,
    ) -> Intent:
        """Write the intent durably, then return it: call this BEFORE sending the request."""
        intent = Intent(
            id=secrets.token_hex(6),
            op=op,
            kind=kind,
            name=name,
            address=address,
            key=key,
            parent_id=parent_id,
            started_at=now_iso(),
        )
        self.intents.append(intent)
        self.save()
        return intent

    def finish(self, intent: Intent, *, id: int | None = None, name: str | None = None) -> None:
        """The answer arrived: drop the intent and, for a creation, record the id, in one write."""
        self.intents = [i for i in self.intents if i.id != intent.id]
        if id is not None and intent.kind in ("project", "dataset", "model") and intent.op != "start_training":
            self.record(intent.kind, id, name or intent.name, intent.key, save=False)
        self.save()

    def abandon(self, intent: Intent, *, save: bool = True) -> None:
        """The request definitely did not happen (a 4xx before any side effect)."""
        self.intents = [i for i in self.intents if i.id != intent.id]
        if save:
            self.save()

    def pending(self, op: str | None = None, name: str | None = None) -> list[Intent]:
        return [i for i in self.intents if (op is None or i.op == op) and (name is None or i.name == name)]

    # --- runs -----------------------------------------------------------------------------------

    def start_apply(self, operation: str = "apply") -> None:
        self.last_apply = {"operation": operation, "started_at": now_iso(), "pid": os.getpid(), "status": "running"}
        self.save()

    def end_apply(self, status: str, message: str = "") -> None:
        self.last_apply = {**self.last_apply, "finished_at": now_iso(), "status": status}
        if message:
            self.last_apply["message"] = message
        self.save()
