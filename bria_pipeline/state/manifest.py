"""The output manifest: `output_dir/manifest.json`, what every generated file is and how it was made.

Generations have no remote listing, so this file is the only memory of what was paid for. Each
output is keyed by the hash of its canonical request (`GenerationRequest.key`) and carries the
request that made it: prompt, structured prompt, every parameter, seed, model and version, the
async `request_id`, status and times.

Durability without rewriting the whole file on every step:

- `manifest.json` is the compacted state, replaced atomically by `save()` (temp, fsync, rename).
- `manifest.journal` beside it gets one JSON line per change (`record_pending`, `record_done`,
  ...), flushed and fsynced before the call returns. So a request_id is on disk before anything
  waits on it. `load()` reads the JSON and replays the journal over it; a torn last line (the
  process died mid-write) is ignored. `save()` folds the journal in and deletes it.

The records (what each output is, its request's life and money) are in records.py; the facts of
the files on disk in file_facts.py; the spec's manifest, with outputs it made at the old default
folder, is read by old_folder.py. The top-level `requests` object sums each record's money.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bria_pipeline.atomic import fsync_dir, write_atomic
from bria_pipeline.state.clock import now_iso
from bria_pipeline.state.errors import ManifestError
from bria_pipeline.state.file_facts import FileState, observe_files, placed
from bria_pipeline.state.records import MONEY, OutputRecord, StructuredPromptRecord

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
JOURNAL_FILE = "manifest.journal"


def has_manifest(folder: Path) -> bool:
    """A manifest is kept in `folder` (its compacted file, or a journal not folded in yet)."""
    return (folder / MANIFEST_FILE).exists() or (folder / JOURNAL_FILE).exists()


class Manifest:
    """The output manifest of one `output_dir`. Build it with `load`, or directly in tests."""

    def __init__(
        self,
        output_dir: Path,
        outputs: Iterable[OutputRecord] = (),
        structured_prompts: Iterable[StructuredPromptRecord] = (),
        files: dict[str, FileState] | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.outputs: dict[str, OutputRecord] = {r.key: r for r in outputs}
        self.structured_prompts: dict[str, StructuredPromptRecord] = {
            r.inputs_hash: r for r in structured_prompts
        }
        # Observed files, by relative path. Filled by observe(); plain data for the planner.
        self.files: dict[str, FileState] = dict(files or {})
        self.warnings: list[str] = []
        # Set when these records were found at the old default output folder (outputs/): the next
        # apply moves them (and their files) here before anything else (apply.relocate).
        self.moving_to: Path | None = None
        self._dirty = bool(self.outputs or self.structured_prompts)  # differs from manifest.json

    # -- reading ---------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.output_dir / MANIFEST_FILE

    @property
    def journal_path(self) -> Path:
        return self.output_dir / JOURNAL_FILE

    @classmethod
    def load(cls, output_dir: Path, *, observe: bool = True) -> Manifest:
        """Read manifest.json (if any), replay the journal, and look at the files on disk."""
        manifest = cls(Path(output_dir))
        manifest._read_json()
        manifest._dirty = manifest._replay_journal()
        if observe:
            manifest.observe()
        return manifest

    @classmethod
    def from_bytes(cls, output_dir: Path, data: bytes, *, source: str | None = None) -> Manifest:
        """A manifest read from elsewhere (a backend), for `output_dir` as its working copy."""
        manifest = cls(Path(output_dir))
        try:
            manifest._read_text(data.decode("utf-8"), source)
        except UnicodeDecodeError:
            raise ManifestError(source or manifest.path, "not UTF-8 text") from None
        manifest._dirty = False
        return manifest

    @classmethod
    def from_data(cls, output_dir: Path, data: dict[str, Any], *, source: str | None = None) -> Manifest:
        """A manifest from its JSON form (``outputs`` and ``structured_prompts``), e.g. a backend's."""
        manifest = cls(Path(output_dir))
        manifest._read_data({"version": FORMAT_VERSION, **data}, source)
        manifest._dirty = False
        return manifest

    def as_bytes(self) -> bytes:
        """The compacted manifest, as `save()` writes it (the journal folded in)."""
        return (json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")

    def mark_stored(self, stored: dict[str, str]) -> int:
        """Done outputs whose file is not in the working copy but is in the backend (`stored`:
        file -> sha256) count as present: a no-op from a fresh checkout fetches nothing."""
        count = 0
        for record in self.outputs.values():
            if (record.status == "done" and record.file and record.file not in self.files
                    and record.sha256 and stored.get(record.file) == record.sha256):
                self.files[record.file] = FileState(record.sha256, record.size or 0, 0, local=False)
                count += 1
        return count

    def _read_json(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except UnicodeDecodeError:
            raise ManifestError(self.path, "not UTF-8 text") from None
        self._read_text(text)

    def _read_text(self, text: str, source: str | None = None) -> None:
        where = source or self.path
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(where, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        self._read_data(data, source)

    def _read_data(self, data: Any, source: str | None = None) -> None:
        where = source or self.path
        if not isinstance(data, dict) or not isinstance(data.get("outputs", {}), dict):
            raise ManifestError(where, "not a bria-pipeline manifest (expected an object with 'outputs')")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise ManifestError(
                where,
                f"manifest format version {version!r} is not supported (this bria-pipeline reads {FORMAT_VERSION})",
                hint="Use the bria-pipeline version that wrote it, or upgrade this one.",
            )
        try:
            for key, raw in data.get("outputs", {}).items():
                self.outputs[key] = OutputRecord.from_json({**raw, "key": key})
            for key, raw in data.get("structured_prompts", {}).items():
                self.structured_prompts[key] = StructuredPromptRecord.from_json({**raw, "inputs_hash": key})
        except TypeError as exc:
            raise ManifestError(where, f"a record is incomplete: {exc}") from None

    def _replay_journal(self) -> bool:
        """Apply the journal's changes; True when there were any."""
        try:
            lines = self.journal_path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return False
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        for number, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                self._apply(entry)
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, AttributeError):
                if number == last:  # the process died while writing it: the change never happened
                    self.warnings.append(f"{self.journal_path}:{number + 1}: ignored a torn last line")
                    continue
                raise ManifestError(
                    self.journal_path, "a journal line is not a valid change", line=number + 1,
                    hint=(f"move only the journal aside (manifest.json and every output file stay, so nothing "
                          f"recorded there is paid again; moving manifest.json too would pay for every output): "
                          f"mv {self.journal_path} {self.journal_path}.damaged"),
                ) from None
        return True

    def _apply(self, entry: dict[str, Any]) -> None:
        if "output" in entry:
            record = OutputRecord.from_json(entry["output"])
            self.outputs[record.key] = record
        elif "structured_prompt" in entry:
            sp = StructuredPromptRecord.from_json(entry["structured_prompt"])
            self.structured_prompts[sp.inputs_hash] = sp
        elif "drop" in entry:
            self.outputs.pop(entry["drop"], None)
        elif "drop_structured_prompt" in entry:
            self.structured_prompts.pop(entry["drop_structured_prompt"], None)
        else:
            raise KeyError("unknown change")

    def observe(self) -> None:
        """Stat every recorded file; hash only those whose size or mtime changed since recorded."""
        self.files.clear()
        self.files.update(observe_files(self.output_dir, self.outputs.values()))

    def __contains__(self, key: object) -> bool:
        return key in self.outputs

    def __len__(self) -> int:
        return len(self.outputs)

    def __iter__(self) -> Iterator[OutputRecord]:
        return iter(self.outputs.values())

    def get(self, key: str) -> OutputRecord | None:
        return self.outputs.get(key)

    def is_complete(self, key: str) -> bool:
        """Done, and its file is on disk with the recorded sha256 (as last observed)."""
        record = self.outputs.get(key)
        if record is None or record.status != "done" or not record.file:
            return False
        state = self.files.get(record.file)
        return state is not None and state.sha256 == record.sha256

    def by_file(self) -> dict[str, OutputRecord]:
        """Records that own a file, by relative path."""
        return {r.file: r for r in self.outputs.values() if r.file}

    # -- writing ---------------------------------------------------------------------------

    def _journal(self, *entries: dict[str, Any]) -> None:
        """Append the changes to the journal, one line each, with one fsync."""
        if not entries:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        data = b"".join((json.dumps(e, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
                        for e in entries)
        self._dirty = True
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, record: OutputRecord) -> OutputRecord:
        """Store `record` as it is, durably."""
        self.outputs[record.key] = record
        self._journal({"output": record.to_json()})
        return record

    def _record(self, key: str, details: dict[str, Any]) -> OutputRecord:
        record = self.outputs.get(key)
        if record is None:
            try:
                record = OutputRecord(key=key, **details)
            except TypeError as exc:
                raise TypeError(f"a new manifest record needs kind, name, set_name and model: {exc}") from None
        else:
            for name, value in details.items():
                if not hasattr(record, name):
                    raise TypeError(f"OutputRecord has no field {name!r}")
                setattr(record, name, value)
        return record

    def record_pending(self, key: str, request_id: str | None, **details: Any) -> OutputRecord:
        """Before a POST (`request_id=None`) and again once its answer names the job.

        Written to disk before it returns: nothing waits on a job whose id is not recorded.
        """
        record = self._record(key, details)
        record.mark_pending(request_id)
        return self.put(record)

    def record_done(self, key: str, *, file: str, sha256: str, **details: Any) -> OutputRecord:
        """The file is in place and verified: remember its hash, size and mtime."""
        record = self._record(key, details)
        record.status = "done"
        record.file = file
        record.sha256 = sha256
        record.error = None
        record.answer_lost = False
        record.completed = now_iso()
        found = placed(self.output_dir / file, sha256)
        if found is not None:
            record.size, record.mtime_ns = found.size, found.mtime_ns
            self.files[file] = found
        return self.put(record)

    def record_failed(self, key: str, error: str, *, answer_lost: bool = False, ended: str | None = None,
                      **details: Any) -> OutputRecord:
        """The request or the job failed. `answer_lost`: the POST's outcome is unknown; `ended`:
        how the accepted request ended ("error"), kept in `previous`."""
        record = self._record(key, details)
        record.mark_failed(error, answer_lost, ended)
        return self.put(record)

    def record_gone(self, key: str, request_id: str | None, ended: str, error: str) -> OutputRecord:
        """The accepted request's job ("gone") or result ("expired") can no longer be had: the
        next POST for this output pays once more, and says so."""
        record = self._record(key, {})
        if request_id and not record.request_id:
            record.request_id = request_id
        record.mark_failed(error, False, ended)
        return self.put(record)

    def record_accepted(self, key: str) -> OutputRecord:
        """A synchronous answer: the request was accepted (and billed) without a job to poll."""
        record = self._record(key, {})
        record.billed += 1
        return self.put(record)

    def money(self) -> dict[str, int]:
        """The money record summed over outputs and structured prompts (the manifest's `requests`)."""
        totals = dict.fromkeys(MONEY, 0)
        for record in [*self.outputs.values(), *self.structured_prompts.values()]:
            for name, count in record.money().items():
                totals[name] += count
        return totals

    def update(self, key: str, **details: Any) -> OutputRecord:
        """Change fields of an existing record (a file moved aside, retired)."""
        if key not in self.outputs:
            raise KeyError(key)
        return self.put(self._record(key, details))

    def drop(self, key: str) -> None:
        """Forget an output (after --prune deleted its file)."""
        record = self.outputs.pop(key, None)
        if record is not None and record.file:
            self.files.pop(record.file, None)
        self._journal({"drop": key})

    def discard(self, keys: Iterable[str], prompts: Iterable[str] = ()) -> None:
        """Forget records in memory, not journaled: the next save() writes them away at once (the
        records moved to another folder's manifest, written before)."""
        for key in keys:
            record = self.outputs.pop(key, None)
            if record is not None and record.file:
                self.files.pop(record.file, None)
        for h in prompts:
            self.structured_prompts.pop(h, None)
        self._dirty = True

    def mark_current(self, keys: Iterable[str], *, spec: str = "", models: Iterable[str] | None = None) -> int:
        """`keys` in spec order: the others are retired, these take their position. Returns changes.

        With `spec` (its file name) and `models` (its model keys), only that spec's records are
        touched, and they are stamped with its name; another spec's records are left as they are.
        """
        position = {key: i for i, key in enumerate(keys)}
        models = tuple(models) if models is not None else None
        changed = []
        for record in list(self.outputs.values()):
            if models is not None and record.key not in position and not record.belongs_to(spec, models):
                continue
            retired = record.key not in position
            order = position.get(record.key, record.order)
            owner = spec or record.spec
            if record.retired != retired or record.order != order or record.spec != owner:
                record.retired, record.order, record.spec = retired, order, owner
                changed.append({"output": record.to_json()})
        self._journal(*changed)  # one fsync, however many (every record, the first run that stamps them)
        return len(changed)

    def put_structured_prompt(self, record: StructuredPromptRecord) -> StructuredPromptRecord:
        self.structured_prompts[record.inputs_hash] = record
        self._journal({"structured_prompt": record.to_json()})
        return record

    def drop_structured_prompt(self, inputs_hash: str) -> None:
        self.structured_prompts.pop(inputs_hash, None)
        self._journal({"drop_structured_prompt": inputs_hash})

    def to_json(self) -> dict[str, Any]:
        outputs = sorted(self.outputs.values(), key=lambda r: (r.name, r.key))
        prompts = sorted(self.structured_prompts.values(), key=lambda r: (r.set_name, r.inputs_hash))
        body = {}
        for record in outputs:
            data = record.to_json()
            del data["key"]
            body[record.key] = data
        sps = {}
        for sp in prompts:
            data = sp.to_json()
            del data["inputs_hash"]
            sps[sp.inputs_hash] = data
        return {"version": FORMAT_VERSION, "requests": self.money(), "outputs": body, "structured_prompts": sps}

    def save(self) -> Path:
        """Write manifest.json atomically, then fold the journal away (nothing to do: no write)."""
        if not self._dirty and self.path.exists():
            return self.path
        write_atomic(self.path, self.as_bytes())
        if self.journal_path.exists():
            self.journal_path.unlink()
            fsync_dir(self.output_dir)
        self._dirty = False
        return self.path
