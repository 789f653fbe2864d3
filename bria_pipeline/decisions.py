"""Decisions people make about a spec's results, as data: `<spec>.decisions.yaml` beside the spec.

Committed and reviewed in a pull request like the spec; read with it (spec/decisions_file.py),
obeyed by plan and apply; the review server (reports/review_server.py) only edits that file.

    outputs:                          per output address (``generation.<set>[<name>]``)
      approve / reject, a note, and with reject `regenerate: true` (generate again, another seed)
      `key`: which output was judged (its request hash); without it, the one the address holds now
    images:                           per dataset, per training image (its key in the spec)
      `exclude: true` with a `reason`, or `caption:` (a fixed caption, sent as a manual caption)

Pure data: nothing here reads a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

APPROVE = "approve"
REJECT = "reject"
Verdict = Literal["approve", "reject"]
SEED_SPACE = 2**31


@dataclass(frozen=True)
class OutputDecision:
    address: str
    decision: Verdict | None = None  # None: only a note
    key: str | None = None
    note: str | None = None
    regenerate: bool = False


@dataclass(frozen=True)
class ImageDecision:
    dataset: str
    image: str  # the image's key in the spec (``images/pose-01.png`` or its URL)
    exclude: bool = False
    reason: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class Decisions:
    """Every decision of one decisions file (empty when there is none)."""

    file: str | None = None  # the file's name beside the spec, when there is one
    outputs: tuple[OutputDecision, ...] = ()
    images: tuple[ImageDecision, ...] = ()
    by_key: dict[str, OutputDecision] = field(default_factory=dict, compare=False, repr=False)
    by_address: dict[str, OutputDecision] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, file: str | None, outputs: Iterable[OutputDecision], images: Iterable[ImageDecision]) -> Decisions:
        outs = tuple(outputs)
        return cls(file, outs, tuple(images),
                   by_key={d.key: d for d in outs if d.key},
                   by_address={d.address: d for d in outs if not d.key})

    @property
    def name(self) -> str:
        return self.file or "the decisions file"

    def for_output(self, key: str, address: str | None = None) -> OutputDecision | None:
        """The decision about the output with request hash `key`: one naming that key, else one
        naming only the address it sits at."""
        found = self.by_key.get(key)
        if found is None and address is not None:
            found = self.by_address.get(address)
        return found

    def verdict(self, key: str, address: str | None = None) -> Verdict | None:
        found = self.for_output(key, address)
        return found.decision if found is not None else None

    def image(self, dataset: str, image: str) -> ImageDecision | None:
        return next((d for d in self.images if d.dataset == dataset and d.image == image), None)

    def count(self, outputs: Iterable[tuple[str, str | None]]) -> dict[str, int]:
        """approved / rejected / undecided among `outputs` ((key, address) pairs)."""
        counts = {"approved": 0, "rejected": 0, "undecided": 0}
        for key, address in outputs:
            verdict = self.verdict(key, address)
            counts["approved" if verdict == APPROVE else "rejected" if verdict == REJECT else "undecided"] += 1
        return counts


NO_DECISIONS = Decisions()


def reseeded(key: str, seed: int, taken: Iterable[int] = ()) -> int:
    """The seed a rejected output is generated again with: derived from the rejected output's key,
    so every machine picks the same one, and never one already used in its row."""
    used = set(taken) | {seed}
    n = 0
    while True:
        candidate = int.from_bytes(hashlib.sha256(f"{key}#again{n}".encode()).digest()[:8], "big") % SEED_SPACE
        if candidate not in used:
            return candidate
        n += 1


def decisions_path_for(spec_path: Path) -> Path:
    """``specs/lucy.yaml`` -> ``specs/lucy.decisions.yaml`` (beside it, as ``lucy.lock.yaml`` is)."""
    spec_path = Path(spec_path)
    return spec_path.with_name(f"{spec_path.stem}.decisions.yaml")
