"""How remote names map back to the spec: fingerprinted versions and their revisions.

The rules both `state/` (what to observe) and `plan/` (what to do) follow: which remote versions
belong to which spec key, and which of them is current. Below both, importing neither.

A dataset the spec calls ``lucy`` is uploaded as ``lucy-1a2b3c4d`` (the fingerprint of its content,
see `model.DesiredDataset.fingerprint`). When an upstream state is final for the same content (a
stopped training, a completed dataset found not to match), the next attempt is a revision:
``lucy-1a2b3c4d-r2``. Anything else in the project is not ours and is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Generic, Protocol, TypeVar

from .model import FINGERPRINT


class Named(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


class Record(Protocol):
    """What .bria/ recorded of a resource (`state.observed.Recorded`): the name it was made under,
    and the spec key it was made for."""

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> str | None: ...


T = TypeVar("T", bound=Named)


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


@dataclass(frozen=True)
class Version(Generic[T]):
    """A remote dataset or model named as a version of one spec key."""

    name: VersionName
    item: T
    renamed_to: str | None  # the name it carries after a rename outside bria-pipeline


def versions_of(base: str, items: Iterable[T], recorded: Mapping[int, Record]) -> list[Version[T]]:
    """The versions of `base` among `items` (datasets or models of one kind), renames recognised
    by what .bria/ recorded (`recorded`: records of that kind by id)."""
    out = []
    for item in items:
        record = recorded.get(item.id)
        name, renamed_to = effective_name(record.name if record else None, base, item.name)
        parsed = parse_version_name(base, name)
        if parsed is not None:
            out.append(Version(parsed, item, renamed_to))
    return out


def owners(items: Iterable[T], keys: Mapping[str, str], recorded: Mapping[int, Record]) -> list[tuple[str, T]]:
    """Every item this spec owns, with the spec key it belongs to; the rest is never touched.

    `keys` maps each name base to its spec key (a dataset's key is its base; a sweep member
    ``lucy-lora[rank=32]`` is named after ``lucy-lora``). An item is owned when it is named as a
    version of one of them (renames recognised by the record), or when .bria/ recorded it as made
    by this spec (a key since removed from the spec).
    """
    out = []
    for item in items:
        owner = next((key for base, key in keys.items() if versions_of(base, (item,), recorded)), None)
        record = recorded.get(item.id)
        if owner is None and record is not None:
            owner = record.key or record.name
        if owner is not None:
            out.append((owner, item))
    return out


def sweep_member(owner: str, parameters: Mapping[str, Any], members: Mapping[str, tuple[tuple[str, Any], ...]]) -> str:
    """The sweep member a version of a sweep's model belongs to: the one whose sweep values it was
    trained with (``lucy-lora[learning_rate=0.0005]``); `owner` when none (or several) match.

    `members`: spec keys -> their sweep values, e.g. ``{"lucy-lora[rank=32]": (("rank", 32),)}``.
    """
    base = model_base(owner)
    matching = [
        key
        for key, values in members.items()
        if values and model_base(key) == base and all(name in parameters and parameters[name] == value for name, value in values)
    ]
    return matching[0] if len(matching) == 1 else owner


def model_owner_keys(keys: Iterable[str]) -> dict[str, str]:
    """Name base -> the spec key its versions belong to: the model's key, or for a sweep of several
    members the sweep's name (``lucy-lora``), which `sweep_member` then narrows to one member."""
    out: dict[str, str] = {}
    for key in keys:
        base = model_base(key)
        out[base] = key if base not in out else base
    return out


def current_versions(versions: Iterable[Version[T]], is_current: Callable[[Version[T]], bool]) -> list[Version[T]]:
    """The versions named after the spec's content (`is_current`), oldest first: the last one is
    *the* current version (the highest revision; of equal revisions, the last made)."""
    return sorted((v for v in versions if is_current(v)), key=lambda v: (v.name.revision, v.item.id))
