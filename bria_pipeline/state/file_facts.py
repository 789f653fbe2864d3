"""Facts of the output files on disk: what is at each recorded path, as the planner reads it.

Observing costs a stat per file: a file is hashed again only when its size or mtime is not what
its record remembers (the cost of a no-op plan stays a stat per file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.state.records import OutputRecord


@dataclass(frozen=True)
class FileState:
    """What is on disk at an output's path, as `Manifest.observe()` found it."""

    sha256: str
    size: int
    mtime_ns: int
    local: bool = True  # False: not in the working copy, but held by the backend with this sha256


def observe_files(output_dir: Path, records: Iterable[OutputRecord]) -> dict[str, FileState]:
    """The files `records` name, by relative path; hashed only when their size or mtime changed
    since recorded. A path with no regular file there is left out."""
    files: dict[str, FileState] = {}
    for record in records:
        if not record.file:
            continue
        path = output_dir / record.file
        st = _stat(path)
        if st is None or not path.is_file():
            continue
        if record.sha256 and st.st_size == record.size and st.st_mtime_ns == record.mtime_ns:
            sha = record.sha256
        else:
            sha = sha256_file(path)
        files[record.file] = FileState(sha, st.st_size, st.st_mtime_ns)
    return files


def placed(path: Path, sha256: str) -> FileState | None:
    """The facts of a file just put in place with content `sha256` (None: it is not there)."""
    st = _stat(path)
    return FileState(sha256, st.st_size, st.st_mtime_ns) if st is not None else None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None
