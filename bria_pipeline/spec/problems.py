"""What is wrong with a spec, and where: problems are collected, never raised one at a time.

    SpecError                   (BriaPipelineError) anything the spec layer refuses
     └── SpecErrors             every problem found in one pass, each a SpecProblem

A problem renders as ``spec.yaml:12:5: datasets.lucy.images[0].path: message`` followed by an
indented ``hint:`` line, the shape compilers and linters use, so editors and CI logs link to it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Iterable, Literal

from bria_pipeline.errors import BriaPipelineError

Severity = Literal["error", "warning"]
PathPart = str | int
SpecPath = tuple[PathPart, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Iterable[PathPart]) -> str:
    """``("datasets", "lucy", "images", 0, "path")`` -> ``datasets.lucy.images[0].path``.

    Keys that are not plain names (image paths, URLs) are quoted: ``captions["images/a.png"]``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += '["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return out or "(top)"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt word, or None when nothing is close."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return match[0] if match else None


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong (or, as a warning, worth a look) in a spec, at a file position."""

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: {self.path}: "
        text = where + ("warning: " if self.severity == "warning" else "") + self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.render()

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


def sort_problems(problems: Iterable[SpecProblem]) -> list[SpecProblem]:
    """File order, then position; the same problem reported twice is kept once."""
    seen: set[SpecProblem] = set()
    unique = [p for p in problems if not (p in seen or seen.add(p))]
    return sorted(unique, key=lambda p: (p.file, p.line, p.col, p.path, p.message))


class SpecError(BriaPipelineError):
    """The spec layer refuses something."""


class SpecErrors(SpecError):
    """Every problem one validation pass found (errors first matter; warnings ride along)."""

    def __init__(self, problems: Iterable[SpecProblem]) -> None:
        self.problems: list[SpecProblem] = sort_problems(problems)
        errors = [p for p in self.problems if p.is_error]
        head = f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the spec"
        super().__init__(head + ":\n" + "\n".join(p.render() for p in self.problems))

    @property
    def errors(self) -> list[SpecProblem]:
        return [p for p in self.problems if p.is_error]

    def describe(self) -> str:
        return self.message
