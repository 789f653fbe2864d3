"""How remote names map back to the spec: fingerprinted versions and their revisions.

A dataset the spec calls ``lucy`` is uploaded as ``lucy-1a2b3c4d`` (the fingerprint of its content,
see `model.DesiredDataset.fingerprint`). When an upstream state is final for the same content (a
stopped training, a completed dataset found not to match), the next attempt is a revision:
``lucy-1a2b3c4d-r2``. Anything else in the project is not ours and is never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..model import FINGERPRINT


@dataclass(frozen=True, order=True)
class VersionName:
    """A parsed remote name: ``<base>-<fingerprint>[-r<revision>]``."""

    base: str
    fingerprint: str
    revision: int = 1

    def __str__(self) -> str:
        return version_name(self.base, self.fingerprint, self.revision)


def version_name(base: str, fingerprint: str, revision: int = 1) -> str:
    name = f"{base}-{fingerprint}"
    return name if revision <= 1 else f"{name}-r{revision}"


def parse_version_name(base: str, name: str) -> VersionName | None:
    """``parse_version_name("lucy", "lucy-1a2b3c4d-r2")`` -> VersionName("lucy", "1a2b3c4d", 2)."""
    match = re.fullmatch(
        re.escape(base) + rf"-([0-9a-f]{{{FINGERPRINT}}})(?:-r([0-9]+))?",
        name,
    )
    if not match:
        return None
    revision = int(match.group(2)) if match.group(2) else 1
    if match.group(2) is not None and revision < 2:
        return None
    return VersionName(base, match.group(1), revision)


def model_base(key: str) -> str:
    """A sweep member ``lucy-lora[rank=32]`` is named after ``lucy-lora``."""
    return key.split("[", 1)[0]


def effective_name(recorded_name: str | None, base: str, name: str) -> tuple[str, str | None]:
    """The name to identify a remote resource by, and the name it was renamed to outside bria-pipeline.

    A resource this runner recorded under one of its version names, now listed under a name that
    is not one of ours, was renamed in the Console: it is still ours (and gets its name back).
    """
    if recorded_name is None or recorded_name == name:
        return name, None
    if parse_version_name(base, name) is not None:
        return name, None  # renamed by us: a crash came before the record was updated
    if parse_version_name(base, recorded_name) is None:
        return name, None
    return recorded_name, name
