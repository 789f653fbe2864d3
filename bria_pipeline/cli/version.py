"""`--version`: what a bug report needs, in three lines.

    bria-pipeline, version 0.1.0
    Python 3.11.7 (CPython) on Linux-6.1.0-x86_64
    extras: s3 yes, gcs yes, azure yes, staging yes, sandbox-video no

An extra counts as installed when every package it asks for is (read from the package's own
metadata, so a new extra is listed without a change here). `test` is left out: it is for
working on bria-pipeline, not for using it.
"""

from __future__ import annotations

import platform
import re
from importlib import metadata

from bria_pipeline import __version__

DIST = "bria-pipeline"
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def extras() -> dict[str, bool]:
    """Each optional extra of the installed package, and whether all it needs is installed."""
    try:
        requires = metadata.requires(DIST) or []
    except metadata.PackageNotFoundError:
        return {}
    needs: dict[str, list[str]] = {}
    for requirement in requires:
        extra = _EXTRA.search(requirement)
        name = _NAME.match(requirement)
        if extra and name and extra.group(1) != "test":
            needs.setdefault(extra.group(1), []).append(name.group(1))
    return {extra: all(_installed(n) for n in names) for extra, names in needs.items()}


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def version_text() -> str:
    found = extras()
    listed = ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in found.items()) or "none declared"
    return "\n".join([
        f"bria-pipeline, version {__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform(terse=True)}",
        f"extras: {listed}",
    ])
