"""`models:` -> `DesiredModel`s, one per model or one per member of a training sweep.

Rules from the contract: training parameters (and so sweeps and checkpoints) need
training_mode expert; lr_warmup_steps only means something with the constant_with_warmup
scheduler (the service's default); training needs a completed dataset. Checkpoints are saved
every checkpoint_interval steps (default 500) up to total_training_steps (default 750).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from bria_pipeline.model import DesiredModel, TrainingParams
from bria_pipeline.spec.context import BuildContext
from bria_pipeline.spec.problems import SpecPath, did_you_mean

SERVICE_DEFAULTS = {
    "rank": 128,
    "learning_rate": 0.0001,
    "lr_scheduler": "constant_with_warmup",
    "total_training_steps": 750,
    "checkpoint_interval": 500,
}
MAX_SWEEP = 64
_INTEGER_PARAMS = ("rank", "total_training_steps", "checkpoint_interval", "lr_warmup_steps")


def member_key(name: str, combo: tuple[tuple[str, Any], ...]) -> str:
    """``lucy-lora`` + ((rank, 32),) -> ``lucy-lora[rank=32]``."""
    if not combo:
        return name
    return name + "[" + ",".join(f"{k}={_show(v)}" for k, v in combo) + "]"


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _typed(params: dict[str, Any]) -> dict[str, Any]:
    """YAML's 32.0 is the integer 32 where the contract wants an integer."""
    return {k: int(v) if k in _INTEGER_PARAMS and isinstance(v, float) else v for k, v in params.items()}


class ModelSection:
    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx

    def build(self) -> dict[str, DesiredModel]:
        models = self.ctx.get(("models",))
        out: dict[str, DesiredModel] = {}
        if not isinstance(models, dict):
            return out
        for name, raw in models.items():
            at = ("models", name)
            if not isinstance(raw, dict) or self.ctx.broken(at) or not self.ctx.sound(at + ("dataset",)):
                continue
            sections = {}
            for section in ("training", "sweep"):  # keep their sound values; drop the wrong ones
                if isinstance(raw.get(section), dict) and not self.ctx.broken(at + (section,)):
                    sections[section] = self.ctx.sound_fields(at + (section,), raw[section])
            raw = {**self.ctx.sound_fields(at, raw), **sections}
            for model in self._build_one(name, raw, at):
                out[model.key] = model
        return out

    def _build_one(self, name: str, raw: dict[str, Any], at: SpecPath) -> list[DesiredModel]:
        ctx = self.ctx
        dataset = raw["dataset"]
        mode = raw.get("training_mode", "fully_automated")
        if not self.ctx.sound(at + ("training_mode",)):
            mode = "expert" if "training" in raw or "sweep" in raw else "fully_automated"  # no second error
        training = _typed(raw.get("training") or {})
        sweep = raw.get("sweep") or {}
        all_datasets = ctx.get(("datasets",)) if isinstance(ctx.get(("datasets",)), dict) else {}
        if dataset not in all_datasets:
            close = did_you_mean(dataset, list(all_datasets))
            ctx.error(at + ("dataset",), f"no dataset named {dataset!r}",
                      f"did you mean '{close}'?" if close else f"datasets in this spec: {', '.join(all_datasets) or 'none'}")
        elif isinstance(all_datasets[dataset], dict) and all_datasets[dataset].get("complete", True) is False:
            ctx.error(at + ("dataset",), f"dataset {dataset!r} has complete: false; training needs a completed dataset",
                      "remove complete: false from the dataset, or remove this model until the dataset is ready")
        if mode != "expert":
            for section in ("training", "sweep"):
                if section in raw:
                    ctx.error(at + (section,), f"{section} parameters need training_mode: expert (this model is {mode})",
                              "add training_mode: expert, or remove them to let the service choose the recipe")
        for param in sweep:
            if param in training:
                ctx.error(at + ("sweep", param), f"{param} is set both in training and in sweep",
                          "keep it in one place: sweep for several values, training for one", key=True)
        checkpoint = raw.get("checkpoint")
        if isinstance(checkpoint, int) and not isinstance(checkpoint, bool) and mode != "expert":
            ctx.error(at + ("checkpoint",), "choosing a checkpoint step needs training_mode: expert",
                      "checkpoints are listed for expert models only; use checkpoint: latest or leave it out")

        names = list(sweep)
        size = math.prod(len(sweep[n]) for n in names)
        if size > MAX_SWEEP:
            ctx.error(at + ("sweep",), f"the sweep makes {size:,} models (one training each); the limit is {MAX_SWEEP}",
                      "sweep fewer values at once; each member is a separate paid training")
            return []
        combos = [tuple(zip(names, values)) for values in itertools.product(*(sweep[n] for n in names))]
        out = []
        for combo in combos:
            params = {**training, **_typed(dict(combo))}
            self._check_params(at, params, combo, checkpoint if mode == "expert" else None)
            out.append(
                DesiredModel(
                    key=member_key(name, combo),
                    dataset=dataset,
                    training_mode=mode,
                    training=TrainingParams(**params),
                    checkpoint=checkpoint,
                    sweep=tuple((k, _typed({k: v})[k]) for k, v in combo),
                    mark=ctx.mark(at),
                    description=raw.get("description"),
                )
            )
        return out

    def _check_params(self, at: SpecPath, params: dict[str, Any], combo: tuple, checkpoint: Any) -> None:
        ctx = self.ctx
        member = f" (sweep member {member_key('', combo)})" if combo else ""
        scheduler = params.get("lr_scheduler", SERVICE_DEFAULTS["lr_scheduler"])
        if "lr_warmup_steps" in params and scheduler != "constant_with_warmup":
            where = at + ("training", "lr_warmup_steps") if "lr_warmup_steps" in (ctx.get(at + ("training",)) or {}) \
                else at + ("sweep", "lr_warmup_steps")
            ctx.error(where, f"lr_warmup_steps only applies to lr_scheduler constant_with_warmup, not {scheduler}{member}",
                      "remove lr_warmup_steps, or set lr_scheduler: constant_with_warmup")
        if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
            interval = params.get("checkpoint_interval", SERVICE_DEFAULTS["checkpoint_interval"])
            total = params.get("total_training_steps", SERVICE_DEFAULTS["total_training_steps"])
            saved = list(range(interval, total + 1, interval))
            listing = ", ".join(map(str, saved[:8])) + (", ..." if len(saved) > 8 else "") if saved else "none"
            if checkpoint > total:
                ctx.error(at + ("checkpoint",), f"checkpoint {checkpoint} is after the last training step ({total}){member}",
                          f"checkpoints are saved every {interval} steps up to {total}: {listing}")
            elif checkpoint % interval:
                ctx.error(at + ("checkpoint",), f"checkpoint {checkpoint} is not a multiple of checkpoint_interval {interval}{member}",
                          f"checkpoints are saved every {interval} steps up to {total}: {listing}")
