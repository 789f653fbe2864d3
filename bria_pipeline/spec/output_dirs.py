"""Specs checked together never share outputs: no two write into one output folder, or one inside another's.

Each spec's output manifest is the only memory of what was paid for, and `--prune` deletes what
its own manifest recorded: two specs writing into one folder would read (and prune) each other's
outputs. Left out, `generate.output_dir` is ``outputs/<spec stem>/``, so specs sharing a directory
are apart by default; a folder written out explicitly is checked here against

- every other spec of the same run, and
- every spec beside it in its directory (found by the caller), read without validating them.

    claim_of(desired)            the folder a validated spec writes into, and where that was said
    read_claim(path)             the same, read from a spec file as written (no templates rendered)
    shared_output_problems(own, others)   one error per other spec whose folder overlaps own's
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bria_pipeline.model import Desired
from bria_pipeline.spec.problems import SpecProblem
from bria_pipeline.spec.yaml_source import read_document

DEFAULT_OUTPUT_DIR = "outputs"  # output_dir left out: outputs/<spec stem>/


@dataclass(frozen=True)
class OutputClaim:
    """The folder one spec writes its outputs into."""

    spec: Path  # the spec file, absolute
    file: str  # the spec file as problems name it
    output_dir: Path  # absolute, normalised
    line: int
    col: int
    written: bool  # output_dir is in the spec (False: the default)


def default_output_dir(spec_dir: Path, spec_name: str) -> Path:
    return spec_dir / DEFAULT_OUTPUT_DIR / Path(spec_name).stem


def claim_of(desired: Desired, file: str) -> OutputClaim | None:
    generation = desired.generation
    if generation is None:
        return None
    mark = generation.mark
    line, col = (mark.line, mark.col) if mark is not None else (1, 1)
    return OutputClaim(Path(desired.spec_path).resolve(), file, Path(os.path.abspath(generation.output_dir)),
                       line, col, generation.legacy_output_dir is None)


def read_claim(path: Path) -> OutputClaim | None:
    """The output folder of a spec file as written; None when it has no `generate:` section, cannot
    be read, or names its folder with a template (validating that spec says more)."""
    doc, problems = read_document(path, str(path))
    if problems or not isinstance(doc.data, dict) or not isinstance(doc.data.get("generate"), dict):
        return None
    spec = Path(path).resolve()
    written = doc.data["generate"].get("output_dir")
    if written is None:
        line, col = doc.position(("generate",), key=True)
        return OutputClaim(spec, str(path), default_output_dir(spec.parent, spec.name), line, col, False)
    if not isinstance(written, str) or "{" in written:
        return None
    line, col = doc.position(("generate", "output_dir"))
    return OutputClaim(spec, str(path), Path(os.path.normpath(spec.parent / written)), line, col, True)


def _relation(own: Path, other: Path) -> str | None:
    if own == other:
        return "is also"
    if other in own.parents:
        return "is inside"
    if own in other.parents:
        return "contains"
    return None


def shared_output_problems(own: OutputClaim, others: Iterable[OutputClaim]) -> list[SpecProblem]:
    """An error at `own`'s output_dir (or `generate:` when it is the default) for every other spec
    whose output folder is the same as `own`'s, inside it, or around it."""
    problems = []
    seen: set[Path] = set()
    for other in others:
        if other.spec == own.spec or other.spec in seen:
            continue
        relation = _relation(own.output_dir, other.output_dir)
        if relation is None:
            continue
        seen.add(other.spec)
        mine = "output_dir" if own.written else f"the default output_dir ({DEFAULT_OUTPUT_DIR}/{own.spec.stem})"
        theirs = "output_dir" if other.written else "default output_dir"
        problems.append(SpecProblem(
            own.file, own.line, own.col, "generate.output_dir" if own.written else "generate",
            f"{mine} {_shown(own)} {relation} the {theirs} of {other.file} (line {other.line}, {_shown(other)}): "
            "specs never share outputs (a --prune of one would delete the other's paid outputs)",
            f"give each spec its own output_dir, or leave output_dir out in both: the default is "
            f"{DEFAULT_OUTPUT_DIR}/<spec name>/, a folder per spec",
        ))
    return problems


def _shown(claim: OutputClaim) -> str:
    try:
        return os.path.relpath(claim.output_dir, claim.spec.parent) + "/"
    except ValueError:
        return str(claim.output_dir)
