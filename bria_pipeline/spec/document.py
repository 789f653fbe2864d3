"""A parsed YAML file that remembers where every key and value was written.

`Document.data` is plain Python (dicts, lists, str, int, float, bool, None); `marks` maps a path
such as ``("datasets", "lucy", "images", 0)`` to the 1-based line and column of that value, and
`key_marks` to where its key was written. Every later stage reports problems by path, and the
document turns the path back into ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bria_pipeline.model import Mark
from bria_pipeline.spec.problems import SpecPath, SpecProblem, Severity, format_path


@dataclass
class Document:
    file: str  # the name problems are reported under (the path as the user gave it)
    path: Path
    data: Any = None
    marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)
    # Block scalars (| and >) start on the line after their mark: template errors inside them
    # are reported on the right line by adding the template's own line number.
    block_scalars: set[SpecPath] = field(default_factory=set)

    def position(self, path: SpecPath, *, key: bool = False) -> tuple[int, int]:
        """Line and column of a path; falls back to the nearest written ancestor."""
        probe = tuple(path)
        if key and probe in self.key_marks:
            return self.key_marks[probe]
        while probe:
            if probe in self.marks:
                return self.marks[probe]
            probe = probe[:-1]
        return self.marks.get((), (1, 1))

    def mark(self, path: SpecPath, *, key: bool = False) -> Mark:
        line, col = self.position(path, key=key)
        return Mark(self.file, line, col)

    def problem(
        self,
        path: SpecPath,
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        severity: Severity = "error",
        line_offset: int = 0,
    ) -> SpecProblem:
        line, col = self.position(path, key=key)
        if line_offset:  # a line inside a block scalar: its column is not known here
            line, col = line + line_offset, 1
        return SpecProblem(self.file, line, col, format_path(path), message, hint, severity)

    def get(self, path: SpecPath, default: Any = None) -> Any:
        """The value at a path, or `default` when any step is missing or of the wrong kind."""
        value = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return default
            elif not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value
