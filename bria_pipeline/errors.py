"""The root of every error bria-pipeline raises on purpose.

    BriaPipelineError               anything the CLI reports without a traceback (exit 1)
     ├── spec.errors.SpecError       the spec is wrong: file:line:col, path, message, hint
     ├── api.errors.ApiError         the API (or the network) said no; see api/errors.py
     ├── state.StateError            local state or lock trouble (.bria/)
     ├── lockfile.LockFileError      spec.lock.yaml cannot be read or written
     └── plan / apply errors         a plan cannot be made or carried out

Each layer owns its subtree. Every error knows how to describe itself to a person
(`describe()`), and none ever carries the API token in its text.
"""

from __future__ import annotations


class BriaPipelineError(Exception):
    """Base class. `hint` says how to fix it; `describe()` is what the CLI prints."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def describe(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text
