"""spec.lock.yaml: the results the service does not reproduce exactly, pinned by their inputs' hash.

The lock file lives beside the spec (``spec.yaml`` -> ``spec.lock.yaml``) and is committed with it.
It pins

- the visual schema produced for given samples, text and refinement instructions
  (key: `VisualSchemaSpec.inputs_hash`),
- refined captions (key: `caption_key(image, schema)`: the image's content, its manual caption,
  its refinement instructions and the schema inputs),
- structured prompts (key: `StructuredPromptSpec.inputs_hash`).

It holds no remote ids, so it is portable across organisations. With a pin present, apply reuses
it instead of asking the service again. The YAML is written with sorted keys, atomically.

Once the spec was applied with a backend, it also records where its state lives (``state:``):
the state's lineage (the id made at its first apply), the backend URL (never a credential) and
the key under it. That is how a moved or renamed spec finds its state, and how a run without
the backend is refused instead of paying again for what the backend knows is done.

Reading it is careful (the file may come from a pull request): a regular file beside the spec,
at most MAX_LOCK_BYTES, UTF-8, valid YAML, and every pin one the API would accept (a JSON text),
each failure naming the file, the line and how to fix it, before any request is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .atomic import write_atomic
from .confined import UnsafeFile, read_regular
from .errors import BriaPipelineError
from .model import ImageSource, StructuredPromptSpec, VisualSchemaSpec, digest

LOCK_VERSION = 1
HEADER = (
    "# Written by bria-pipeline. Commit it with the spec: it pins results the service does not\n"
    "# reproduce exactly (visual schemas, refined captions, structured prompts), keyed by the hash\n"
    "# of their inputs. It holds no remote ids. Delete an entry to have it made again.\n"
)
STATE_FIELDS = ("lineage", "backend", "key")
SECTIONS = ("visual_schemas", "captions", "structured_prompts")


class LockFileError(BriaPipelineError):
    """The lock file cannot be read, used or written: names the file, and the line and column when known.

    Its own error (not state/'s): the lock file sits below state/, which reads it."""

    def __init__(self, file: Path | str, message: str, *, line: int | None = None, col: int | None = None,
                 hint: str | None = None) -> None:
        where = f"{file}:{line}:{col}" if line and col else f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = where
        self.file, self.line, self.col, self.reason = file, line, col, message


def lock_path_for(spec_path: Path) -> Path:
    """``specs/lucy.yaml`` -> ``specs/lucy.lock.yaml``."""
    spec_path = Path(spec_path)
    return spec_path.with_name(f"{spec_path.stem}.lock.yaml")


def caption_key(image: ImageSource, schema: VisualSchemaSpec) -> str:
    """The key a refined caption is pinned under: everything the refined text depends on."""
    return digest(
        {
            "image": image.sha256,
            "caption": image.caption,
            "refine": list(image.caption_refine),
            "schema": schema.inputs_hash,
        }
    )


@dataclass
class Lock:
    """The lock file's content. Mutable: apply pins new results into it, then saves it."""

    visual_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    captions: dict[str, dict[str, Any]] = field(default_factory=dict)
    structured_prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)  # lineage, backend, key (state/locate.py)

    # --- reading pins -------------------------------------------------------------------------
    def visual_schema(self, spec: VisualSchemaSpec) -> str | None:
        entry = self.visual_schemas.get(spec.inputs_hash)
        return entry.get("schema") if entry else None

    def caption(self, image: ImageSource, schema: VisualSchemaSpec) -> str | None:
        entry = self.captions.get(caption_key(image, schema))
        return entry.get("caption") if entry else None

    def structured_prompt_texts(self) -> dict[str, str]:
        """Every pinned structured prompt's text by its inputs hash."""
        return {h: e["structured_prompt"] for h, e in self.structured_prompts.items() if e.get("structured_prompt")}

    def structured_prompt(self, spec: StructuredPromptSpec) -> str | None:
        entry = self.structured_prompts.get(spec.inputs_hash)
        return entry.get("structured_prompt") if entry else None

    # --- pinning ------------------------------------------------------------------------------
    def pin_visual_schema(self, spec: VisualSchemaSpec, schema: str, *, sample_keys: list[str] | None = None) -> None:
        entry: dict[str, Any] = {"schema": schema}
        if sample_keys or spec.samples:
            entry["samples"] = sample_keys or [s.key for s in spec.samples]
        if spec.refine:
            entry["refine"] = list(spec.refine)
        self.visual_schemas[spec.inputs_hash] = entry

    def pin_caption(self, image: ImageSource, schema: VisualSchemaSpec, caption: str) -> None:
        entry: dict[str, Any] = {"image": image.key, "caption": caption}
        if image.caption_refine:
            entry["refine"] = list(image.caption_refine)
        self.captions[caption_key(image, schema)] = entry

    def pin_structured_prompt(self, spec: StructuredPromptSpec, structured_prompt: str) -> None:
        entry: dict[str, Any] = {"prompt": spec.prompt, "structured_prompt": structured_prompt}
        if spec.refine:
            entry["refine"] = spec.refine
        if spec.seed is not None:
            entry["seed"] = spec.seed
        self.structured_prompts[spec.inputs_hash] = entry

    def retain(self, *, visual_schemas: set[str], captions: set[str], structured_prompts: set[str]) -> int:
        """Drop pins no longer referenced; returns how many were dropped."""
        dropped = 0
        for name, keep in (
            ("visual_schemas", visual_schemas),
            ("captions", captions),
            ("structured_prompts", structured_prompts),
        ):
            section: dict[str, Any] = getattr(self, name)
            for key in [k for k in section if k not in keep]:
                del section[key]
                dropped += 1
        return dropped

    # --- text ---------------------------------------------------------------------------------
    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": LOCK_VERSION}
        for name in SECTIONS:
            section = getattr(self, name)
            if section:
                data[name] = {k: section[k] for k in sorted(section)}
        if self.state:
            data["state"] = {k: self.state[k] for k in STATE_FIELDS if self.state.get(k)}
        return data

    def to_yaml(self) -> str:
        return HEADER + yaml.safe_dump(self.as_data(), sort_keys=True, allow_unicode=True, width=100)

    def fingerprint(self) -> str:
        """The pins' hash (a saved plan is stale when it changed); where the state lives is not a pin."""
        data = self.as_data()
        data.pop("state", None)
        return digest(data)

    def copy(self) -> Lock:
        return Lock(
            visual_schemas={k: dict(v) for k, v in self.visual_schemas.items()},
            captions={k: dict(v) for k, v in self.captions.items()},
            structured_prompts={k: dict(v) for k, v in self.structured_prompts.items()},
            state=dict(self.state),
        )

    @classmethod
    def from_data(cls, data: Any, *, source: Path | str = "spec.lock.yaml") -> Lock:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise LockFileError(source, "expected a mapping at the top level", hint="delete the file; apply writes it again")
        version = data.get("version", LOCK_VERSION)
        if version != LOCK_VERSION:
            raise LockFileError(
                source,
                f"lock file version {version!r} is not supported (this bria-pipeline writes version {LOCK_VERSION})",
                hint="upgrade bria-pipeline, or delete the file to pin everything again",
            )
        lock = cls()
        for name in SECTIONS:
            section = data.get(name) or {}
            if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
                raise LockFileError(source, f"section {name!r} must map input hashes to entries", hint="delete the section")
            setattr(lock, name, {str(k): dict(v) for k, v in section.items()})
        state = data.get("state") or {}
        if not isinstance(state, dict) or not all(isinstance(state.get(k, ""), str) for k in STATE_FIELDS) \
                or set(state) - set(STATE_FIELDS):
            raise LockFileError(source, f"section 'state' must map {', '.join(STATE_FIELDS)} to texts",
                                hint="restore the file from version control; apply writes the section again")
        key = state.get("key", "")
        if key.startswith("/") or ".." in key.split("/") or "\\" in key:
            raise LockFileError(source, f"state.key {key!r} must be a relative path under the backend URL",
                                hint="restore the file from version control; apply writes the section again")
        backend = urlsplit(state.get("backend", ""))
        if backend.username or backend.password or backend.query or backend.fragment or ";" in backend.path \
                or state.get("backend") and backend.scheme not in ("file", "s3", "gs", "az"):
            raise LockFileError(source, "state.backend must be a backend URL with no credentials, query, fragment or "
                                "parameters (it is not shown here: it may hold a secret)",
                                hint="restore the file from version control; apply writes the section again")
        lock.state = {k: state[k] for k in STATE_FIELDS if state.get(k)}
        return lock


MAX_LOCK_BYTES = 64 * 1024 * 1024  # thousands of pinned captions fit many times over
RESTORE_HINT = ("restore it from version control (git checkout -- FILE), or delete it: the next apply pins "
                "what is missing again, from the remote where it can")


def load_lock(path: Path) -> Lock:
    """Read a lock file; a missing file is an empty lock.

    Only a regular file beside the spec is read (not a symbolic link out of the spec's folder,
    a FIFO or a device), at most MAX_LOCK_BYTES; text that is not UTF-8 names the file and the byte.
    """
    path = Path(path)
    try:
        raw = read_regular(path, max_bytes=MAX_LOCK_BYTES, inside=path.parent)
    except FileNotFoundError:
        return Lock()
    except UnsafeFile as exc:
        raise LockFileError(path, exc.message, hint=RESTORE_HINT.replace("FILE", str(path))) from None
    except OSError as exc:
        raise LockFileError(path, f"cannot read: {exc.strerror or exc}") from None
    hint = RESTORE_HINT.replace("FILE", str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LockFileError(path, f"not a text file: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8 "
                            "(the file is damaged)", line=raw.count(b"\n", 0, exc.start) + 1, hint=hint) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LockFileError(path, "not valid YAML", line=mark.line + 1 if mark else None,
                            col=mark.column + 1 if mark else None, hint=hint) from None
    finally:
        loader.dispose()
    lock = Lock.from_data(data, source=path)
    check_pins(lock, path, _marks(node))
    return lock


try:  # libyaml's parser when PyYAML has it
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def _marks(node: yaml.Node | None) -> dict[tuple[str, ...], tuple[int, int]]:
    """(section, key, field) -> (line, column) of the values of a lock file's pins."""
    marks: dict[tuple[str, ...], tuple[int, int]] = {}

    def walk(node: yaml.Node, path: tuple[str, ...], mark: Any) -> None:
        marks[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.MappingNode) and len(path) < 3:
            for key, value in node.value:  # a map is marked at its key, a scalar at its value
                walk(value, path + (str(key.value),), key.start_mark if isinstance(value, yaml.MappingNode)
                     else value.start_mark)

    if node is not None:
        walk(node, (), node.start_mark)
    return marks


# (section, the field a pin holds, what the API does with it)
_PINNED_JSON = (
    ("visual_schemas", "schema", "set as the dataset's visual_schema, which the API takes only as a JSON text"),
    ("captions", "caption", "set as the image's caption, which the API takes only as a JSON text"),
    ("structured_prompts", "structured_prompt", "sent as structured_prompt, a JSON text"),
)


def check_pins(lock: Lock, path: Path, marks: dict[tuple[str, ...], tuple[int, int]]) -> None:
    """Refuse, before any request, a pin the API would refuse: file:line:col of the first one."""
    for section, name, use in _PINNED_JSON:
        for key, entry in getattr(lock, section).items():
            value = entry.get(name)
            problem = None
            if not isinstance(value, str) or not value.strip():
                problem = f"{name} must be a non-empty text (it is {type(value).__name__})"
            else:
                try:
                    json.loads(value)
                except ValueError as exc:
                    problem = f"{name} is not valid JSON ({exc})"
            if problem is None:
                continue
            line, col = marks.get((section, key, name)) or marks.get((section, key)) or (1, 1)
            raise LockFileError(
                path, f"{section}.{key[:12]}: {problem}; it would be {use}", line=line, col=col,
                hint=(f"restore {path} from version control (git checkout -- {path}), or delete this entry: "
                      "the next apply makes it again"),
            )


def save_lock(lock: Lock, path: Path) -> bool:
    """Write the lock file atomically; returns False (and writes nothing) when it is unchanged."""
    path = Path(path)
    text = lock.to_yaml()
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    if not (lock.visual_schemas or lock.captions or lock.structured_prompts or lock.state) and not path.exists():
        return False
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise LockFileError(path, f"cannot write: {exc.strerror or exc}") from None
    return True
