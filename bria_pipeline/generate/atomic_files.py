"""Files that are either complete or absent: write to a hidden temp name, fsync, rename.

A download in progress lives at ``.<name>.part-<random>`` beside its final name. Nothing reads a
``.part-`` file as an output, and `sweep_partial_files` removes the ones a killed run left behind.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

PART_MARK = ".part-"


def temp_path_for(final: Path) -> Path:
    """A hidden, unique name in the same directory (so the rename stays on one file system)."""
    return final.with_name(f".{final.name}{PART_MARK}{secrets.token_hex(4)}")


def is_partial(path: Path) -> bool:
    return path.name.startswith(".") and PART_MARK in path.name


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(final: Path, data: bytes) -> None:
    """Write `data` to `final` so that a reader sees the old file, or the new one whole."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def iter_partial_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if is_partial(path):
                yield path


def sweep_partial_files(root: Path) -> list[Path]:
    """Delete the temp files a killed run left under `root`; returns what was removed."""
    removed = []
    for path in iter_partial_files(root):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
