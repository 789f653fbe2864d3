"""Files that are either complete or absent: written under a hidden temp name beside the final one,
fsynced, renamed over it, and the rename made durable.

    write_atomic(path, data)              whole bytes (state, lock file, manifest, outputs, caches)
    with atomic_writer(path) as fh:       a stream written in chunks (a dataset zip)
        fh.write(chunk)

A file in progress lives at ``.<name>.part-<random>``; nothing reads a ``.part-`` file as a result,
and `sweep_partial_files` removes the ones a killed run left behind. Every layer that writes a file
others rely on writes it through here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

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


@contextmanager
def atomic_writer(final: Path) -> Iterator[BinaryIO]:
    """Write `final` through the yielded file: a reader sees the old file, or the new one whole.

    Leaving the block by an exception (Ctrl-C included) removes the temp file and keeps the old one.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def write_atomic(final: Path, data: bytes) -> None:
    """Write `data` to `final` so that a reader sees the old file, or the new one whole."""
    with atomic_writer(final) as fh:
        fh.write(data)


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
