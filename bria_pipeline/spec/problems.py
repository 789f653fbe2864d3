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


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning `a` into `b`."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


_NUMBER = re.compile(r"0+(?=[0-9])")


def _stem(text: str) -> str:
    """What a person means by a name: the file stem, numbers without leading zeros (``fjell-07``
    is ``fjell-7``)."""
    name = text.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return _NUMBER.sub("", stem.lower())


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt word, or None when nothing is close.

    Closest by edit distance on the stem (``fjell-7.png`` suggests ``fjell-07.png``, else
    ``fjell-8.png`` or ``fjell-6.png`` before ``fjell-27.png``), then on the whole text, then the
    nearest number, then by similarity.
    """
    word = str(word)
    options = [str(c) for c in choices]
    if not options:
        return None
    close = set(difflib.get_close_matches(word, options, n=len(options), cutoff=0.6))
    stem = _stem(word)
    limit = max(1, len(stem) // 3)
    close |= {c for c in options if edit_distance(stem, _stem(c)) <= limit}
    if not close:
        return None
    number = _number(stem)

    def rank(c: str) -> tuple:
        other = _number(_stem(c))
        apart = abs(number - other) if number is not None and other is not None else float("inf")
        return (edit_distance(stem, _stem(c)), edit_distance(word, c), apart,
                -difflib.SequenceMatcher(None, word, c).ratio(), c)

    return min(close, key=rank)


def _number(stem: str) -> int | None:
    found = re.findall(r"[0-9]+", stem)
    return int(found[-1]) if found else None


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
    unique = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
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
