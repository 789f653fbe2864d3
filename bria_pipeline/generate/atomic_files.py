"""Moved: atomic writes live in `bria_pipeline.atomic`, output hashes in `generate.output_files`.

This name stays only for importers outside generate/ that have not switched yet (pipeline.py's
`save_plan_file`); new code imports `bria_pipeline.atomic`.
"""

from bria_pipeline.atomic import write_atomic

__all__ = ["write_atomic"]
