"""sha256 as state records it: the hex digest of bytes, of text (UTF-8) and of a file (streamed).

A name that carries a short hash (an object version, a segment's manifest id, a key beside
another) slices the full digest where it is made: ``sha256_text(name)[:8]``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The file's digest, read `chunk` bytes at a time (an output may be a large video)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
