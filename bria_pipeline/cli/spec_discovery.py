"""Which specs a command runs: files as named, and every spec found below a directory.

A file named on the command line is always taken, whatever it holds (validation then says what
is wrong with it). A directory stands for every spec file below it, in path order, where a spec
file is one that

- is named ``*.yaml`` or ``*.yml``, and not ``*.lock.yaml`` / ``*.lock.yml`` (lock files);
- is not hidden and not inside a hidden directory (``.bria/``, ``.git/``, ``.github/``, ...);
- is not one of the command's ``--var-file`` files;
- has both ``version:`` and ``project:`` as top-level keys. Both are required in every spec, so
  variable files, CI workflows and other YAML beside the specs are left alone.

A YAML file below a directory that may not be read safely (a FIFO, a device such as /dev/zero,
a symbolic link to a file outside its folder) is taken as a spec, never read here: validating it
then says why it is refused. Symbolic links to folders are not followed.

A directory with no spec below it is reported as an error of its own, so a mistyped path never
passes as "nothing to do".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..confined import UnsafeFile, read_regular
from ..spec.yaml_source import MAX_SPEC_BYTES

SUFFIXES = (".yaml", ".yml")
LOCK_SUFFIXES = (".lock.yaml", ".lock.yml")
_TOP_LEVEL = {key: re.compile(rf"^{key}[ \t]*:", re.M) for key in ("version", "project")}
SPEC_RULE = "a .yaml/.yml file with top-level version: and project: keys (lock files and hidden paths excepted)"


@dataclass(frozen=True)
class SpecSelection:
    """What the paths given stand for.

    specs       every spec to run, each once, in the order given (a directory's in path order)
    empty_dirs  directories given that hold no spec
    skipped     YAML files below the directories that are not specs (shown with -v)
    """

    specs: tuple[Path, ...]
    empty_dirs: tuple[Path, ...] = ()
    skipped: tuple[Path, ...] = ()


def is_spec_file(path: Path) -> bool:
    """True when `path` reads like a spec: top-level ``version:`` and ``project:`` keys.

    Only the first MAX_SPEC_BYTES of a regular file are read. A file that may not be read at all
    (a FIFO, a device such as /dev/zero, a symbolic link out of its folder) counts as a spec, so
    that validating it reports the refusal instead of passing it over in silence.
    """
    try:
        data = read_regular(path, max_bytes=MAX_SPEC_BYTES, inside=path.absolute().parent, prefix=True)
    except UnsafeFile:
        return True
    except OSError:
        return False
    text = data.decode("utf-8-sig", errors="replace")
    return all(pattern.search(text) for pattern in _TOP_LEVEL.values())


def _yaml_files_below(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or not name.lower().endswith(SUFFIXES) or name.lower().endswith(LOCK_SUFFIXES):
                continue
            found.append(Path(root) / name)
    return sorted(found)


def find_specs(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> SpecSelection:
    """The specs `paths` stand for (see the module docstring); `exclude`: the --var-file files."""
    excluded = {_key(p) for p in exclude}
    seen: set[Path] = set()
    specs: list[Path] = []
    empty: list[Path] = []
    skipped: list[Path] = []

    def take(path: Path) -> None:
        key = _key(path)
        if key not in seen:
            seen.add(key)
            specs.append(path)

    for path in paths:
        path = Path(path)
        if not path.is_dir():
            take(path)
            continue
        candidates = [c for c in _yaml_files_below(path) if _key(c) not in excluded]
        found = [c for c in candidates if is_spec_file(c)]
        skipped.extend(c for c in candidates if c not in found)
        if not found:
            empty.append(path)
        for candidate in found:
            take(candidate)
    return SpecSelection(tuple(specs), tuple(empty), tuple(skipped))


def specs_beside(path: Path) -> list[Path]:
    """The other spec files in `path`'s own directory (not below it), by the same rules."""
    folder = Path(path).parent
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    own = _key(path)
    found = []
    for name in names:
        candidate = folder / name
        if (name.startswith(".") or not name.lower().endswith(SUFFIXES) or name.lower().endswith(LOCK_SUFFIXES)
                or _key(candidate) == own or not candidate.is_file()):
            continue
        if is_spec_file(candidate):
            found.append(candidate)
    return found


def _key(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(os.path.abspath(path))
