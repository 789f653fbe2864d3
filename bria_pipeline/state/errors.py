"""Errors of local state and of observing the remote.

    BriaPipelineError
     └── StateError               .bria/ or observation trouble
          ├── StateFileError      a state file under .bria/ cannot be read or written (names the file)
          ├── LockHeldError       another apply holds this spec's state lock (names the holder)
          ├── AmbiguousRemoteError  the remote has two candidates for one thing the spec owns
          └── ManifestError       an output manifest is unreadable or malformed (names the file and line)

None of them carries the API token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BriaPipelineError


class StateError(BriaPipelineError):
    """Base of this layer's errors."""


class StateFileError(StateError):
    """A file under .bria/ is unreadable, malformed or unwritable (spec.lock.yaml: lockfile.LockFileError)."""

    def __init__(self, path: object, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path


class LockHeldError(StateError):
    """Another run holds the state lock of this spec."""

    def __init__(self, message: str, *, holder: dict[str, Any] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder or {}


class AmbiguousRemoteError(StateError):
    """Two remote resources claim to be the one the spec describes."""


class ManifestError(StateError):
    """The manifest cannot be read: names the file and, for JSON errors, the line."""

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None, hint: str | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(
            f"{where}: {problem}",
            hint=hint
            or (
                "The manifest is written by bria-pipeline only. Restore it from a backup, or move it "
                "away: the next apply then treats every output as new and generates it again (paid)."
            ),
        )
        self.path = path
        self.line = line
