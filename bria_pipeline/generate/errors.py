"""What the generation layer raises on purpose.

    BriaPipelineError                  bria_pipeline.errors
     └── GenerationError               generation outputs cannot be planned or written
          └── OutputPathError          two outputs, or an output and a foreign file, want one path
"""

from __future__ import annotations

from bria_pipeline.errors import BriaPipelineError


class GenerationError(BriaPipelineError):
    """Base of the generation layer."""


class OutputPathError(GenerationError):
    """An output's file name escapes output_dir or cannot be used."""
