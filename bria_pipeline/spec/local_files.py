"""Finding the local files a spec names: globs relative to the spec, kept inside its directory.

A path or glob in a spec is relative to the spec's directory. Unless `allow_outside` is set, a
file must stay inside that directory tree, both as written (no ``..`` out, no absolute paths)
and after following symlinks, so a spec from a pull request cannot make the runner read and
upload files from elsewhere on the machine.
"""

from __future__ import annotations

import glob
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalFile:
    key: str  # the path relative to the spec's directory, POSIX style: images/pose-01.png
    lexical: Path  # spec_dir / key, normalised but not resolved
    real: Path  # after following symlinks: what is actually read


class LocateError(Exception):
    """A path that names nothing, or something the spec may not read. `hint` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def normalise_key(written: str) -> str:
    """``./images//a.png`` -> ``images/a.png``: how paths and caption keys are compared."""
    return posixpath.normpath(written.replace("\\", "/"))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_inside(key: str, lexical: Path, spec_dir: Path, allow_outside: bool) -> LocalFile:
    real = lexical.resolve()
    if not allow_outside:
        if not _inside(lexical, spec_dir):
            raise LocateError(
                f"{key} is outside the spec's directory",
                "keep images inside the spec's directory tree, or pass --allow-outside to permit this",
            )
        if not _inside(real, spec_dir):
            raise LocateError(
                f"{key} is a symlink to {real}, outside the spec's directory",
                "copy the file into the spec's directory tree, or pass --allow-outside to permit this",
            )
    return LocalFile(key, lexical, real)


def _key_for(lexical: Path, spec_dir: Path) -> str:
    return Path(os.path.relpath(lexical, spec_dir)).as_posix()


def locate(
    pattern: str, spec_dir: Path, *, allow_outside: bool = False, exclude: tuple[str, ...] = ()
) -> tuple[list[LocalFile], list[LocateError]]:
    """Files a path or glob names (sorted by key), and the matched files the spec may not read.

    Raises LocateError when the pattern itself fails (nothing matched, not found, absolute).

    `spec_dir` must be resolved. A glob matches files only (``**`` crosses directories; names
    starting with a dot are skipped, as the shell does).
    """
    written = pattern.replace("\\", "/")
    absolute = os.path.isabs(written)
    if absolute and not allow_outside:
        raise LocateError(
            f"{pattern} is an absolute path",
            "write paths relative to the spec's directory, or pass --allow-outside to permit this",
        )
    if glob.has_magic(written):
        if absolute:
            matches = glob.glob(written, recursive=True)
        else:
            matches = glob.glob(written, root_dir=spec_dir, recursive=True)
        candidates = [Path(os.path.normpath(spec_dir / m)) for m in matches]
        candidates = [c for c in candidates if c.is_file()]
        if not candidates:
            raise LocateError(
                f"no file matches {pattern!r}",
                f"globs are relative to the spec's directory ({spec_dir}); check the folder name and the extension's case",
            )
    else:
        lexical = Path(os.path.normpath(spec_dir / written))
        if not os.path.lexists(lexical):
            raise LocateError(f"{pattern}: file not found", f"paths are relative to the spec's directory ({spec_dir})")
        if lexical.is_dir():
            raise LocateError(f"{pattern} is a directory", f"name the files, e.g. {written.rstrip('/')}/*.png")
        if not lexical.exists():
            raise LocateError(f"{pattern} is a broken symlink", "point it at an existing file, or remove it")
        candidates = [lexical]
    excluded: set[Path] = set()
    for pat in exclude:
        found = glob.glob(pat, root_dir=spec_dir, recursive=True) if not os.path.isabs(pat) else glob.glob(pat)
        excluded.update(Path(os.path.normpath(spec_dir / m)) for m in found)
    files: list[LocalFile] = []
    refused: list[LocateError] = []
    for lexical in sorted(set(candidates) - excluded):
        key = lexical.as_posix() if absolute else _key_for(lexical, spec_dir)
        try:
            files.append(check_inside(key, lexical, spec_dir, allow_outside))
        except LocateError as exc:
            refused.append(exc)
    return sorted(files, key=lambda f: f.key), refused
