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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import ImageSource, StructuredPromptSpec, VisualSchemaSpec, digest
from .state.errors import StateFileError
from .atomic import write_atomic

LOCK_VERSION = 1
HEADER = (
    "# Written by bria-pipeline. Commit it with the spec: it pins results the service does not\n"
    "# reproduce exactly (visual schemas, refined captions, structured prompts), keyed by the hash\n"
    "# of their inputs. It holds no remote ids. Delete an entry to have it made again.\n"
)
SECTIONS = ("visual_schemas", "captions", "structured_prompts")


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
        return data

    def to_yaml(self) -> str:
        return HEADER + yaml.safe_dump(self.as_data(), sort_keys=True, allow_unicode=True, width=100)

    def fingerprint(self) -> str:
        return digest(self.as_data())

    def copy(self) -> Lock:
        return Lock(
            visual_schemas={k: dict(v) for k, v in self.visual_schemas.items()},
            captions={k: dict(v) for k, v in self.captions.items()},
            structured_prompts={k: dict(v) for k, v in self.structured_prompts.items()},
        )

    @classmethod
    def from_data(cls, data: Any, *, source: Path | str = "spec.lock.yaml") -> Lock:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise StateFileError(source, "expected a mapping at the top level", hint="delete the file; apply writes it again")
        version = data.get("version", LOCK_VERSION)
        if version != LOCK_VERSION:
            raise StateFileError(
                source,
                f"lock file version {version!r} is not supported (this bria-pipeline writes version {LOCK_VERSION})",
                hint="upgrade bria-pipeline, or delete the file to pin everything again",
            )
        lock = cls()
        for name in SECTIONS:
            section = data.get(name) or {}
            if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
                raise StateFileError(source, f"section {name!r} must map input hashes to entries", hint="delete the section")
            setattr(lock, name, {str(k): dict(v) for k, v in section.items()})
        return lock


def load_lock(path: Path) -> Lock:
    """Read a lock file; a missing file is an empty lock."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    except OSError as exc:
        raise StateFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise StateFileError(where, "not valid YAML", hint="restore it from version control, or delete it") from None
    return Lock.from_data(data, source=path)


def save_lock(lock: Lock, path: Path) -> bool:
    """Write the lock file atomically; returns False (and writes nothing) when it is unchanged."""
    path = Path(path)
    text = lock.to_yaml()
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    if not (lock.visual_schemas or lock.captions or lock.structured_prompts) and not path.exists():
        return False
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise StateFileError(path, f"cannot write: {exc.strerror or exc}") from None
    return True
