"""What carrying out a plan costs, counted before anything is sent (as Infracost does beside Terraform).

Billed work is counted per kind of paid call: training runs, image generations, structured-prompt
calls, videos, visual-schema generations and refine calls (a visual schema's or a caption's
refinements). Requests are the API calls the steps send, status polls left out (their number
depends on how long the service takes); under a rate limit they take at least
``requests / limit`` minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # steps.py imports Cost: each step type declares its own cost
    from .actions import Action


@dataclass(frozen=True)
class Cost:
    trainings: int = 0
    image_generations: int = 0
    structured_prompts: int = 0
    videos: int = 0
    visual_schemas: int = 0
    refines: int = 0
    requests: int = 0  # status polls not counted

    @property
    def billed(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "requests")

    def __add__(self, other: Cost) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "billed": self.billed}

    def billed_text(self) -> str:
        """``1 training, 9 image generations, 1 video``; ``nothing billed`` when zero."""
        words = (
            ("trainings", "training", "trainings"),
            ("image_generations", "image generation", "image generations"),
            ("structured_prompts", "structured-prompt call", "structured-prompt calls"),
            ("videos", "video", "videos"),
            ("visual_schemas", "visual-schema generation", "visual-schema generations"),
            ("refines", "refine call", "refine calls"),
        )
        parts = [f"{getattr(self, name)} {one if getattr(self, name) == 1 else many}" for name, one, many in words if getattr(self, name)]
        return ", ".join(parts) if parts else "nothing billed"

    def text(self, rate_per_minute: float | None = None) -> str:
        """``Cost: 1 training, 9 image generations, 1 video; 24 requests (24 s at 60/min).``"""
        requests = f"{self.requests} request{'s' if self.requests != 1 else ''}"
        if rate_per_minute:
            requests += f" ({duration(self.requests / rate_per_minute * 60)} at {rate_per_minute:g}/min)"
        return f"Cost: {self.billed_text()}; {requests}, status polls not counted."


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cost_of(action: Action) -> Cost:
    """What one step costs: what its type declares (plan/steps.py); a noop costs nothing."""
    if not action.is_change or action.step is None:
        return Cost()
    return action.step.cost()


def plan_cost(actions: Iterable[Action]) -> Cost:
    total = Cost()
    for action in actions:
        total = total + cost_of(action)
    return total
