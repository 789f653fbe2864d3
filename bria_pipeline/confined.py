"""Reading files the runner did not write, and finding where it may write, without surprises.

A spec, a var file, ``spec.lock.yaml`` or a committed ``.bria/`` can come from a pull request. Any
of them may be a symbolic link to a file elsewhere on the machine (whose values would then be
echoed into a plan or a PR comment), to ``/dev/zero`` (read until memory runs out) or to a FIFO
(``open`` blocks for ever), or simply be huge. So:

- `read_regular` opens without blocking, checks on the open descriptor that it is a regular
  file no larger than the limit, checks that a symbolic link stays inside the directory it must
  stay in, and reads at most the limit;
- `private_dir` refuses a ``.bria`` (or a folder inside it) that is a symbolic link or not a
  folder at all, or that holds a symbolic link, so state, locks and caches are only ever
  written beside the spec (a linked ``apply.lock`` or ``state.json`` would be written through).

Both raise `UnsafeFile` (a message and a hint); callers turn it into their layer's error, with the
file's name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


LINK_REFUSED = "is a symbolic link: state, locks and caches are written only as plain files and folders beside the spec"


class UnsafeFile(Exception):
    """A file the runner refuses to read, or a folder it refuses to write into. `hint`: how to fix it."""

    def __init__(self, message: str, hint: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path  # for private_dir: the part of the path refused


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device (like /dev/zero)"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def is_inside(path: Path, root: Path) -> bool:
    """`path` is `root` or below it, both with symbolic links followed."""
    real, base = Path(path).resolve(), Path(root).resolve()
    return real == base or base in real.parents


def read_regular(path: Path, *, max_bytes: int, inside: Path | None = None, prefix: bool = False) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them.

    inside   when given, `path` (symbolic links followed) must be inside this folder
    prefix   a larger file is not an error: its first `max_bytes` are returned

    Raises UnsafeFile for a link out, anything but a regular file, or (unless `prefix`) a file
    over the limit; OSError (FileNotFoundError, PermissionError, ...) as `open` does.
    """
    path = Path(path)
    if inside is not None and not is_inside(path, inside):
        raise UnsafeFile(
            f"is a symbolic link to a file outside {inside}",
            "a file the runner reads must be inside its own directory: copy it there instead of linking to it "
            "(--allow-outside lifts this for files you trust)",
        )
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"is {kind_of(info.st_mode)}, not a regular file",
                             "it must be a plain YAML file; remove it or replace it with one")
        if info.st_size > max_bytes and not prefix:
            raise too_large(info.st_size, max_bytes)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        if not prefix:
            raise too_large(len(data), max_bytes)
        data = data[:max_bytes]
    return data


def too_large(size: int, max_bytes: int) -> UnsafeFile:
    return UnsafeFile(f"the file is {size:,} bytes; the limit is {max_bytes:,} bytes",
                      "a spec describes images by path and glob; it never embeds them")


def private_dir(parent: Path, *names: str) -> Path:
    """``parent/names...``: a folder the runner writes into, refused when any part of it below
    `parent` is a symbolic link (or exists and is not a folder). It need not exist yet."""
    path = Path(parent)
    for name in names:
        path = path / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UnsafeFile(f"cannot be inspected: {exc.strerror or exc}", "check its permissions", path) from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeFile(
                LINK_REFUSED,
                f"delete the link (and remove it from version control: git rm {path}); bria-pipeline makes the "
                "folder itself", path)
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafeFile(f"is {kind_of(info.st_mode)}, not a folder",
                             f"delete it; bria-pipeline makes {path} as a folder itself", path)
        _no_links_in(path)
    return path


def _no_links_in(folder: Path) -> None:
    """A link inside the folder (state.json, apply.lock, apply.lock.json, ...) would redirect a
    write, or truncate its target: refused like the folder itself."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink():
            raise UnsafeFile(
                LINK_REFUSED,
                f"delete it (and remove it from version control: git rm {entry.path})", Path(entry.path))
