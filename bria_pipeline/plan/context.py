"""The planner's working memory: inputs, the actions emitted so far, and what each resource became.

Kept apart from the rules (datasets.py, models.py, generations.py, prune.py) so each rule module is
a set of functions over one `PlanContext`. Still pure: nothing here reads a file or the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..lockfile import Lock
from ..model import Desired
from ..state.observed import Observed, ObservedDataset, ObservedModel
from .actions import Action, Change
from ..identity import Version, versions_of


@dataclass
class DatasetOutcome:
    """What the plan makes of one spec dataset, for the models that train on it."""

    key: str
    remote_name: str
    observed: ObservedDataset | None  # the remote dataset the plan carries on with, if any
    ready_after: tuple[str, ...] = ()  # addresses that must be done before a model may use it
    fresh: bool = False  # True when the plan makes a new dataset (create, clone)

    @property
    def id(self) -> int | None:
        return None if self.fresh or self.observed is None else self.observed.id


@dataclass
class ModelOutcome:
    key: str
    remote_name: str
    observed: ObservedModel | None
    ready_after: tuple[str, ...] = ()  # addresses that must be done before generating with it


@dataclass
class PlanContext:
    desired: Desired
    observed: Observed
    lock: Lock
    prune: bool = False
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bindings: dict[str, int] = field(default_factory=dict)
    datasets: tuple[ObservedDataset, ...] = ()  # the ones inside the project the plan keeps
    models: tuple[ObservedModel, ...] = ()
    dataset_outcomes: dict[str, DatasetOutcome] = field(default_factory=dict)
    model_outcomes: dict[str, ModelOutcome] = field(default_factory=dict)
    old_datasets: list[tuple[str, ObservedDataset]] = field(default_factory=list)  # (spec key, version)
    _changed: set[str] = field(default_factory=set, repr=False)  # addresses of the changes emitted

    def emit(self, action: Action) -> Action:
        self.actions.append(action)
        if action.is_change:
            self._changed.add(action.address)
        return action

    def changed(self, address: str) -> bool:
        """True when the plan already holds a change at `address` (something to depend on)."""
        return address in self._changed

    def deps(self, *addresses: str) -> tuple[str, ...]:
        """The addresses among these that are changes in the plan, in order, without repeats."""
        out: list[str] = []
        for address in addresses:
            if address and address not in out and self.changed(address):
                out.append(address)
        return tuple(out)

    def gone(self, kind: str, key: str | None = None) -> str | None:
        """"model lucy-lora-1a2b3c4d (id 7) is gone: ..." when one this spec made was deleted outside
        bria-pipeline (recorded in .bria/, no longer listed); None otherwise."""
        vanished = self.observed.vanished(kind, key)
        if not vanished:
            return None
        last = max(vanished, key=lambda r: r.id)
        return f"{kind} {last.name} (id {last.id}) is gone: deleted outside bria-pipeline (drift)"

    def imported(self, kind: str, remote_id: int | None) -> bool:
        """True when .bria/ records it as adopted with `import`: how it differs from the spec is a
        difference, not drift."""
        record = self.observed.recorded_by_id(kind).get(remote_id) if remote_id is not None else None
        return bool(record and record.imported)

    def dataset_versions(self, key: str) -> list[Version[ObservedDataset]]:
        return versions_of(key, self.datasets, self.observed.recorded_by_id("dataset"))

    def model_versions(self, base: str) -> list[Version[ObservedModel]]:
        return versions_of(base, self.models, self.observed.recorded_by_id("model"))


def brief(value: Any, width: int = 60) -> Any:
    """A long text shortened for display in a change line; other values as they are."""
    if isinstance(value, str) and len(value) > width:
        return value[: width - 3] + "..."
    return value


def _json_map(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def same_caption(a: str | None, b: str | None) -> bool:
    """Two caption texts say the same (a structured caption compared as JSON, not by spacing)."""
    if a is None or b is None:
        return a == b
    ma, mb = _json_map(a), _json_map(b)
    return ma == mb if ma is not None and mb is not None else a.strip() == b.strip()


def brief_pair(old: Any, new: Any, width: int = 60) -> tuple[Any, Any]:
    """Two values shortened for a change line so that the difference stays visible: two long texts
    alike in their first `width` characters are both shown around where they first differ."""
    if not (isinstance(old, str) and isinstance(new, str)) or old == new or brief(old, width) != brief(new, width):
        return brief(old, width), brief(new, width)
    at = next(i for i, (a, b) in enumerate(zip(old + "\0", new + "\0")) if a != b)
    start = max(0, at - width // 3)

    def window(text: str) -> str:
        part = text[start: start + width - 6]
        return ("..." if start else "") + part + ("..." if start + width - 6 < len(text) else "")

    return window(old), window(new)


def caption_changes(old: str | None, new: str | None, *, old_source: str | None = None,
                    new_source: str | None = None) -> tuple[Change, ...]:
    """A structured caption's change as the fields that differ (``caption.action: "a" -> "b"``);
    a plain text (or a first caption) as one change. A caption whose text stays and whose source
    changes (the service's automatic caption becomes the spec's manual one) is shown as that:
    ``caption_source: "automatic" -> "manual"``, never as a text that prints the same twice."""
    source = (Change("caption_source", old_source, new_source),) if old_source and new_source and old_source != new_source else ()
    if old == new or same_caption(old, new):
        return source or (Change("caption", *brief_pair(old, new)),)
    before, after = _json_map(old), _json_map(new)
    if before is None or after is None:
        return (Change("caption", *brief_pair(old, new)),) + source
    fields = [k for k in after if before.get(k) != after[k]] + [k for k in before if k not in after]
    return tuple(Change(f"caption.{k}", *brief_pair(before.get(k), after.get(k))) for k in fields) + source or (
        Change("caption", *brief_pair(old, new)),
    )