"""Training parameters: one type for the spec (models.<name>.training) and the API (start_training,
and what a model reports it was trained with). None means "the service's default"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def as_int(value: Any) -> int | None:
    """An integer the API sent as a number or a string; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class TrainingParams:
    """Training parameters; None is the service's default."""

    rank: int | None = None
    learning_rate: float | None = None
    lr_scheduler: str | None = None
    total_training_steps: int | None = None
    checkpoint_interval: int | None = None
    lr_warmup_steps: int | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> TrainingParams:
        """As the API reports them (numbers may come as strings; anything else unreadable is None)."""
        d = d or {}
        lr = d.get("learning_rate")
        return cls(
            rank=as_int(d.get("rank")),
            learning_rate=float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None,
            lr_scheduler=d.get("lr_scheduler"),
            total_training_steps=as_int(d.get("total_training_steps")),
            checkpoint_interval=as_int(d.get("checkpoint_interval")),
            lr_warmup_steps=as_int(d.get("lr_warmup_steps")),
        )

    def as_body(self) -> dict[str, Any]:
        """The start_training request body: only the parameters that are set."""
        return {k: v for k, v in self.__dict__.items() if v is not None}
