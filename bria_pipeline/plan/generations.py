"""Generation outputs in the plan: generation_steps.py decides, the planner tells it about models.

Generations have no remote listing: an output's identity is the hash of its canonical request,
and the output manifest says which keys are done, pending (with their request_id) or lost. The
rules are in `generation_steps.plan_generation` (also pure); here each spec model becomes the
`ModelRef` it needs: its planned remote name (part of every key), and its id once trained.
"""

from __future__ import annotations

from ..state.manifest import Manifest
from ..generate.outputs import ModelRef
from .generation_steps import plan_generation
from .context import PlanContext


def model_refs(ctx: PlanContext) -> dict[str, ModelRef]:
    refs = {}
    for key, outcome in ctx.model_outcomes.items():
        model = ctx.desired.models[key]
        trained = outcome.observed is not None and outcome.observed.status == "Completed" and not outcome.ready_after
        refs[key] = ModelRef(
            remote_name=outcome.remote_name,
            remote_id=str(outcome.observed.id) if trained and outcome.observed is not None else None,
            version=model.checkpoint,
        )
    return refs


def plan_generations(ctx: PlanContext) -> None:
    generation = ctx.desired.generation
    if generation is None:
        return
    manifest = ctx.observed.manifest
    if manifest is None:
        manifest = Manifest(generation.output_dir)
    if manifest.moving_to is not None:
        ctx.notes.append(
            f"{len(manifest)} output(s) of this spec made when the default output_dir was {manifest.output_dir.name}/ "
            f"are moved to {manifest.moving_to.parent.name}/{manifest.moving_to.name}/ by apply (no request)"
        )
    for action in plan_generation(generation, model_refs(ctx), manifest, ctx.lock.structured_prompt_texts(), prune=ctx.prune,
                                  decisions=ctx.desired.decisions, notes=ctx.notes):
        ctx.emit(action)
