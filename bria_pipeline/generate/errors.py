"""What the generation layer raises on purpose.

    BriaPipelineError                  bria_pipeline.errors
     └── GenerationError               generation outputs cannot be planned or written
          ├── ManifestError            output_dir/manifest.json is unreadable or malformed
          └── OutputPathError          two outputs, or an output and a foreign file, want one path
"""

from __future__ import annotations

from pathlib import Path

from bria_pipeline.errors import BriaPipelineError


class GenerationError(BriaPipelineError):
    """Base of the generation layer."""


class ManifestError(GenerationError):
    """The manifest cannot be read: names the file and, for JSON errors, the line."""

    def __init__(self, path: Path, problem: str, *, line: int | None = None, hint: str | None = None) -> None:
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


class OutputPathError(GenerationError):
    """An output's file name escapes output_dir or cannot be used."""
