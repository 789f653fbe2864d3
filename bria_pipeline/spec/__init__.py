"""The spec layer: a YAML file in, a validated `bria_pipeline.model.Desired` out.

    load_spec(path, *, vars=None, var_files=None, allow_outside=False, cache_dir=None) -> Desired
        raises SpecErrors, which holds every problem found (each a SpecProblem)
    validate_spec(path, ...same options) -> list[SpecProblem]     errors and warnings
    check_spec(path, ...same options) -> SpecCheck                 both, plus pre-flight cache stats

Nothing here touches the network or imports the API client. See loader.py for the stages.
"""

from bria_pipeline.spec.loader import STATE_DIR, SpecCheck, check_spec, load_spec, validate_spec
from bria_pipeline.spec.problems import SpecError, SpecErrors, SpecProblem

__all__ = [
    "STATE_DIR",
    "SpecCheck",
    "SpecError",
    "SpecErrors",
    "SpecProblem",
    "check_spec",
    "load_spec",
    "validate_spec",
]
