"""What every section builder shares: the document, the spec's directory, options, problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bria_pipeline.model import Mark
from bria_pipeline.spec.document import Document
from bria_pipeline.spec.problems import SpecPath, SpecProblem
from bria_pipeline.spec.templates import Renderer


@dataclass
class BuildContext:
    doc: Document
    spec_dir: Path  # resolved
    allow_outside: bool
    renderer: Renderer
    bad: set[SpecPath] = field(default_factory=set)  # where the schema found errors
    problems: list[SpecProblem] = field(default_factory=list)

    def sound(self, path: SpecPath) -> bool:
        """True when the schema found nothing wrong at, above or below this path."""
        n = len(path)
        return not any(b[:n] == path or path[: len(b)] == b for b in self.bad)

    def broken(self, path: SpecPath) -> bool:
        """True when the schema found this value (or a value containing it) wrong."""
        return any(path[: len(b)] == b for b in self.bad)

    def names(self, section: str) -> list[str]:
        """The names under a top-level map section (`datasets`, `models`); empty if it is no map."""
        value = self.doc.data.get(section) if isinstance(self.doc.data, dict) else None
        return [str(k) for k in value] if isinstance(value, dict) else []

    def sound_fields(self, path: SpecPath, raw: dict[str, Any]) -> dict[str, Any]:
        """The entries of a map the schema found nothing wrong with."""
        return {k: v for k, v in raw.items() if self.sound(path + (k,))}

    def error(self, path: SpecPath, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, hint, key=key))

    def warn(self, path: SpecPath, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, hint, key=key, severity="warning"))

    def mark(self, path: SpecPath) -> Mark:
        return self.doc.mark(path)

    def get(self, path: SpecPath, default: Any = None) -> Any:
        return self.doc.get(path, default)

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)
