"""`<spec>.decisions.yaml`: read and validated with the spec, written by the review server.

Reading reports every problem as the spec's are (file, line, column, what is wrong, how to fix
it): the JSON Schema (``bria_pipeline/data/decisions.schema.json``, also
``schemas/decisions.schema.json`` for editors), then what only the spec can tell: a dataset or a
training image the spec does not have, a caption that is not JSON, `regenerate` without `reject`.

`apply_image_decisions` takes the training images' decisions into the datasets: an excluded image
leaves the dataset (its content changes: the next version is made without it), a fixed caption
becomes the image's manual caption.

Writing (`DecisionsFile`) rewrites the whole file atomically (temp
file, fsync, rename) in a stable order, one line per field: diffs stay small in review. (Comments
written by hand in the file are not kept: the header says so.)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bria_pipeline.atomic import write_atomic
from bria_pipeline.decisions import (APPROVE, NO_DECISIONS, REJECT, Decisions, ImageDecision, OutputDecision,
                                     decisions_path_for)
from bria_pipeline.model import DesiredDataset
from bria_pipeline.spec.problems import SpecProblem, did_you_mean
from bria_pipeline.spec.schema import packaged_validator, validate_against_schema
from bria_pipeline.spec.yaml_source import read_document

SCHEMA_FILE = "decisions.schema.json"
HEADER = (
    "# yaml-language-server: $schema=https://bria-pipeline.dev/schemas/decisions.schema.json\n"
    "# What the reviewers decided: plan and apply obey it. Edited by `bria-pipeline review serve` or by hand\n"
    "# (the server rewrites the file: comments are not kept).\n"
)


def load_decisions(spec: Path, datasets: dict[str, DesiredDataset] | None = None, *,
                   label: str | None = None) -> tuple[Decisions, list[SpecProblem]]:
    """The decisions file beside `spec` (none: no decisions) and its problems. `datasets`: the
    spec's, to check the training images named exist (skipped when None)."""
    path = decisions_path_for(spec)
    if not path.exists() and not path.is_symlink():
        return NO_DECISIONS, []
    file = label or str(path)
    doc, problems = read_document(path, file, inside=path.parent)
    if doc.data is None:
        return NO_DECISIONS, problems
    if not isinstance(doc.data, dict):
        return NO_DECISIONS, [doc.problem((), "a decisions file is a map (version, outputs, images)",
                                          "start it with 'version: 1'")]
    problems, bad = validate_against_schema(doc, validator=packaged_validator(SCHEMA_FILE))
    if problems:
        return NO_DECISIONS, problems
    outputs = []
    for address, raw in (doc.data.get("outputs") or {}).items():
        raw = raw or {}
        at: tuple[str, ...] = ("outputs", address)
        if raw.get("regenerate") and raw.get("decision") != REJECT:
            problems.append(doc.problem(at + ("regenerate",), "regenerate is for a rejected output",
                                        "add 'decision: reject', or remove 'regenerate'"))
        elif raw.get("regenerate") and address.startswith("video."):
            problems.append(doc.problem(at + ("regenerate",), "a video is generated again from its source image, not a seed",
                                        "remove 'regenerate'; reject the source image with 'regenerate: true' instead"))
        outputs.append(OutputDecision(address, raw.get("decision"), raw.get("key"), raw.get("note"),
                                      bool(raw.get("regenerate"))))
    images = []
    for dataset, entries in (doc.data.get("images") or {}).items():
        if datasets is not None and dataset not in datasets:
            close = did_you_mean(dataset, list(datasets))
            problems.append(doc.problem(("images", dataset), f"the spec has no dataset '{dataset}'",
                                        (f"did you mean '{close}'? " if close else "") + f"datasets: {', '.join(datasets) or 'none'}",
                                        key=True))
            continue
        known = [i.key for i in datasets[dataset].images] if datasets is not None else None
        for image, raw in (entries or {}).items():
            raw = raw or {}
            at = ("images", dataset, image)
            if known is not None and image not in known:
                close = did_you_mean(image, known)
                problems.append(doc.problem(at, f"dataset '{dataset}' has no training image '{image}'",
                                            f"did you mean '{close}'? " if close else
                                            "name the image as the spec does (images/pose-01.png, or its URL)", key=True))
                continue
            if raw.get("exclude") and not (raw.get("reason") or "").strip():
                problems.append(doc.problem(at + ("exclude",), "an excluded image needs a reason",
                                            "add 'reason: ...' (the plan shows it)"))
            if raw.get("exclude") and raw.get("caption") is not None:
                problems.append(doc.problem(at + ("caption",), "an excluded image has no caption to fix",
                                            "remove 'caption', or 'exclude'"))
            caption = raw.get("caption")
            if caption is not None:
                try:
                    json.loads(caption)
                except ValueError as exc:
                    why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    problems.append(doc.problem(at + ("caption",), f"the caption is not valid JSON ({why})",
                                                "write the caption as the service stores it: a JSON text, quoted in YAML"))
            images.append(ImageDecision(dataset, image, bool(raw.get("exclude")), raw.get("reason"), caption))
    if problems:
        return NO_DECISIONS, problems
    return Decisions.of(path.name, outputs, images), []


def apply_image_decisions(datasets: dict[str, DesiredDataset], decisions: Decisions) -> dict[str, DesiredDataset]:
    """The datasets as the decisions leave them: excluded images gone, fixed captions manual."""
    if not decisions.images:
        return datasets
    result = {}
    for key, dataset in datasets.items():
        kept = []
        excluded = []
        for image in dataset.images:
            found = decisions.image(key, image.key)
            if found is not None and found.exclude:
                excluded.append((image.key, found.reason or ""))
                continue
            if found is not None and found.caption is not None:
                image = dataclasses.replace(image, caption=found.caption, caption_refine=())
            kept.append(image)
        result[key] = dataclasses.replace(dataset, images=tuple(kept), excluded=tuple(excluded)) \
            if excluded or len(kept) != len(dataset.images) or kept != list(dataset.images) else dataset
    return result


# -- writing ------------------------------------------------------------------------------------


class DecisionsFile:
    """The decisions file as the review server edits it: read once (again when it changed on
    disk), one entry changed per write, the whole file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._data: dict[str, Any] | None = None
        self._stamp: tuple[int, int] | None = None
        self._rendered: dict[str, str] = {}  # each output's text, from one write to the next

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def data(self) -> dict[str, Any]:
        stamp = self._current_stamp()
        if self._data is None or stamp != self._stamp:
            self._data = _read_raw(self.path)
            self._stamp = stamp
            self._rendered.clear()  # changed on disk: every entry is written afresh
        return self._data

    def _save(self, data: dict[str, Any]) -> None:
        _write_raw(self.path, data, self._rendered)
        self._data = data
        self._stamp = self._current_stamp()

    def set_output(self, address: str, *, key: str | None, decision: str | None, note: str | None,
                   regenerate: bool = False, at: str | None = None) -> dict[str, Any] | None:
        """Record (or with neither decision nor note, remove) the decision about one output; returns the entry."""
        data = self.data()
        outputs = data.get("outputs") or {}
        data["outputs"] = outputs
        entry: dict[str, Any] = {}
        if decision:
            entry["decision"] = decision
        if key:
            entry["key"] = key
        if note:
            entry["note"] = note
        if regenerate and decision == REJECT:
            entry["regenerate"] = True
        if at and (decision or note):
            entry["at"] = at
        if decision or note:
            outputs[address] = entry
        else:
            outputs.pop(address, None)
        self._rendered.pop(address, None)
        self._save(data)
        return entry or None

    def set_image(self, dataset: str, image: str, *, exclude: bool, reason: str | None,
                  caption: str | None) -> dict[str, Any] | None:
        data = self.data()
        images = data.get("images") or {}
        data["images"] = images
        entries = images.get(dataset) or {}
        images[dataset] = entries
        entry: dict[str, Any] = {}
        if exclude:
            entry["exclude"] = True
            entry["reason"] = reason or "excluded in review"
        elif caption is not None:
            entry["caption"] = caption
        if entry:
            entries[image] = entry
        else:
            entries.pop(image, None)
        self._save(data)
        return entry or None

    def count(self, outputs: Iterable[tuple[str, str]]) -> dict[str, int]:
        """approved / rejected / undecided among `outputs` ((key, address) pairs), as the file says now."""
        entries = self.data().get("outputs") or {}
        by_key = {e.get("key"): e for e in entries.values() if isinstance(e, dict) and e.get("key")}
        counts = {"approved": 0, "rejected": 0, "undecided": 0}
        for key, address in outputs:
            entry = by_key.get(key)
            if entry is None:
                entry = entries.get(address)
                if isinstance(entry, dict) and entry.get("key") not in (None, key):
                    entry = None
            verdict = entry.get("decision") if isinstance(entry, dict) else None
            counts["approved" if verdict == APPROVE else "rejected" if verdict == REJECT else "undecided"] += 1
        return counts


def _read_raw(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": 1}
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a map; fix it by hand before reviewing")
    data.setdefault("version", 1)
    return data


def _write_raw(path: Path, data: dict[str, Any], cache: dict[str, str] | None = None) -> None:
    write_atomic(path, render_decisions(data, cache).encode("utf-8"))


def _scalar(value: Any) -> str:
    """A YAML scalar: JSON's spelling is valid YAML (a double-quoted string, a number, true/false)."""
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)


def _entry(name: str, fields: dict[str, Any], indent: str) -> str:
    lines = [f"{indent}{_scalar(name)}:"] if fields else [f"{indent}{_scalar(name)}: {{}}"]
    lines += [f"{indent}  {k}: {_scalar(v)}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def render_decisions(data: dict[str, Any], cache: dict[str, str] | None = None) -> str:
    """The decisions file's text: sections and entries sorted, one scalar per line, written here
    rather than by a YAML dumper: a file of thousands of decisions is rewritten in milliseconds.
    `cache` (address -> text) keeps each output's text from one write to the next: whoever
    changes an entry drops its text from it."""
    parts = [HEADER, f"version: {_scalar(data.get('version', 1))}\n"]
    outputs = data.get("outputs") or {}
    cache = cache if cache is not None else {}
    if outputs:
        parts.append("outputs:\n")
        for address in sorted(outputs):
            text = cache.get(address)
            if text is None:
                text = cache[address] = _entry(address, dict(outputs[address]), "  ")
            parts.append(text)
    images = {k: v for k, v in (data.get("images") or {}).items() if v}
    if images:
        parts.append("images:\n")
        for dataset, entries in sorted(images.items()):
            parts.append(f"  {_scalar(dataset)}:\n")
            parts += [_entry(image, dict(sorted(entry.items())), "    ") for image, entry in sorted(entries.items())]
    return "".join(parts)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: a big file stays quick
