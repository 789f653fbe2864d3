"""What carrying out a plan costs, counted before anything is sent (as Infracost does beside Terraform).

Billed work is counted per kind of paid call: training runs, image generations, structured-prompt
calls, videos, visual-schema generations and refine calls (a visual schema's or a caption's
refinements). Requests are the API calls the steps send, status polls left out (their number
depends on how long the service takes); under a rate limit they take at least
``requests / limit`` minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterable

from .actions import Action
from .steps import (
    BulkUpload,
    Caption,
    Captions,
    CloneDataset,
    CompleteDataset,
    CreateDataset,
    CreateModel,
    CreateProject,
    DeleteDataset,
    DeleteImage,
    DeleteModel,
    DeleteProject,
    GenerateImage,
    GenerateVideo,
    RenameDataset,
    ReplaceProject,
    StartTraining,
    StructuredPrompt,
    UpdateModel,
    UpdateProject,
    UploadImage,
    VisualSchema,
)

# Steps that send one request whatever they hold.
_ONE_REQUEST = (CreateProject, UpdateProject, DeleteProject, CreateDataset, CloneDataset, RenameDataset,
                UploadImage, DeleteImage, CompleteDataset, BulkUpload, DeleteDataset, CreateModel, UpdateModel,
                DeleteModel)


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
    """What one step costs."""
    if not action.is_change or action.kind == "wait":
        return Cost()
    step = action.step
    if isinstance(step, StartTraining):
        return Cost(trainings=1, requests=1)
    if isinstance(step, ReplaceProject):
        return Cost(requests=2)  # create the new project, rename or delete the old one
    if isinstance(step, _ONE_REQUEST):
        return Cost(requests=1)
    if isinstance(step, VisualSchema):
        generate = 1 if step.source == "generate" else 0
        refines = step.refines if step.source in ("generate", "refine") else 0
        put = 1 if step.put else 0
        return Cost(visual_schemas=generate, refines=refines, requests=generate + refines + put)
    if isinstance(step, Caption):
        if step.mode == "refine":
            n = step.refines or 1
            return Cost(refines=n, requests=n + 1)
        return Cost(requests=1 if step.mode in ("manual", "regenerate") else 0)
    if isinstance(step, Captions):
        return Cost(requests=1 if step.regenerate else 0)
    if isinstance(step, GenerateImage):
        return Cost(image_generations=1, requests=1)
    if isinstance(step, GenerateVideo):
        return Cost(videos=1, requests=1)
    if isinstance(step, StructuredPrompt) and action.billed:
        calls = 2 if step.refine else 1
        return Cost(structured_prompts=calls, requests=calls)
    return Cost()


def plan_cost(actions: Iterable[Action]) -> Cost:
    total = Cost()
    for action in actions:
        total = total + cost_of(action)
    return total
