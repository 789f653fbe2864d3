"""`generate:` -> `DesiredGeneration`: prompt sets expanded over matrix, seeds and models.

Expansion order is the spec's: for each set, each model (a swept model: each member in sweep
order), each matrix combination (cartesian product, variables in the order written, values in
the order listed), each seed. `count: N` derives N seeds from the set's name, so the same spec
always asks for the same images, on any machine.

Every request carries every contract parameter: the contract's default, then
`generate.defaults`, then the set's own value. Writing a default out explicitly therefore does
not change an output's key, and a request never depends on a default the service might change.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from pathlib import Path
from typing import Any

from jinja2 import meta

from bria_pipeline.model import (
    IMAGE_PARAMETER_DEFAULTS,
    IMAGE_PARAMETERS,
    DesiredGeneration,
    DesiredModel,
    GenerationRequest,
    StructuredPromptSpec,
    VideoRequest,
)
from bria_pipeline.output_names import slug, source_name
from bria_pipeline.spec.context import BuildContext
from bria_pipeline.spec.output_dirs import DEFAULT_OUTPUT_DIR, default_output_dir
from bria_pipeline.spec.problems import SpecPath, did_you_mean
from bria_pipeline.spec.templates import ENVIRONMENT, has_template

MAX_OUTPUTS = 20_000
SEED_SPACE = 2**31
_REPORTED = "\0reported"  # generate.model is wrong and already reported: sets relying on it stay quiet


def derived_seeds(set_name: str, count: int) -> list[int]:
    """Seeds for `count: N`: from a hash of the set's name and the index; stable forever."""
    return [
        int.from_bytes(hashlib.sha256(f"{set_name}#{i}".encode("utf-8")).digest()[:8], "big") % SEED_SPACE
        for i in range(count)
    ]


def deferred_path(path: SpecPath) -> bool:
    """Prompt-set texts render later, once per matrix combination (matrix variables are in scope)."""
    if len(path) < 4 or path[:2] != ("generate", "images") or not isinstance(path[2], int):
        return False
    rest = path[3:]
    return rest in (("prompt",), ("negative_prompt",), ("structured_prompt", "prompt"), ("structured_prompt", "refine"))


def _canonical(name: str, value: Any) -> Any:
    """One spelling per value, so `1` and `1.0` make the same output key."""
    if name in ("guidance_scale", "steps_num") and isinstance(value, float):
        return int(value)
    if name == "tailored_model_influence" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


class GenerationSection:
    def __init__(self, ctx: BuildContext, models: dict[str, DesiredModel]) -> None:
        self.ctx = ctx
        self.models = models
        self.count = 0

    def build(self) -> DesiredGeneration | None:
        ctx = self.ctx
        raw = ctx.get(("generate",))
        if not isinstance(raw, dict):
            return None
        spec_name = ctx.doc.path.name
        written_dir = raw.get("output_dir")
        if isinstance(written_dir, str):
            output_dir, legacy = self._output_dir(written_dir), None
        else:  # the default: a folder per spec, so specs sharing a directory never share outputs
            output_dir = default_output_dir(ctx.spec_dir, spec_name)
            legacy = ctx.spec_dir / DEFAULT_OUTPUT_DIR
        given = ctx.sound_fields(("generate", "defaults"), raw["defaults"]) if isinstance(raw.get("defaults"), dict) else {}
        defaults = {**IMAGE_PARAMETER_DEFAULTS, **self._params(given)}
        requests: list[GenerationRequest] = []
        names: dict[str, SpecPath] = {}
        sets = found if isinstance(found := raw.get("images"), list) else []
        for i, prompt_set in enumerate(sets):
            at = ("generate", "images", i)
            needed = ("name", "prompt", "structured_prompt", "matrix", "seeds", "count", "model")
            if not isinstance(prompt_set, dict) or ctx.broken(at) or not all(ctx.sound(at + (k,)) for k in needed):
                continue
            prompt_set = ctx.sound_fields(at, prompt_set)
            name = prompt_set["name"]
            if slug(name) in names:
                ctx.error(at + ("name",), f"a second prompt set named {name!r} (or the same once made a file name)",
                          f"the first is at line {ctx.doc.position(names[slug(name)])[0]}; give each set its own name")
                continue
            names[slug(name)] = at + ("name",)
            default_model = raw.get("model") if ctx.sound(("generate", "model")) else _REPORTED
            expanded = self._expand(at, prompt_set, default_model, defaults, MAX_OUTPUTS - len(requests))
            if expanded is None:
                return None
            requests += expanded
        self._unique_stems(requests)
        videos = self._videos(found if isinstance(found := raw.get("videos"), list) else [], requests)
        return DesiredGeneration(output_dir=output_dir, images=tuple(requests), videos=tuple(videos),
                                 mark=ctx.mark(("generate", "output_dir") if legacy is None else ("generate",)),
                                 spec=spec_name, legacy_output_dir=legacy)

    # -- pieces ----------------------------------------------------------------------------------
    def _output_dir(self, written: str) -> Path:
        ctx = self.ctx
        lexical = Path(os.path.normpath(ctx.spec_dir / written))
        if not ctx.allow_outside and not (lexical == ctx.spec_dir or ctx.spec_dir in lexical.parents):
            ctx.error(("generate", "output_dir"), f"{written} is outside the spec's directory",
                      "write outputs inside the spec's directory tree, or pass --allow-outside")
        return lexical

    def _params(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {k: _canonical(k, raw[k]) for k in IMAGE_PARAMETERS if k in raw}

    def _models_for(self, at: SpecPath, name: str | list[str] | None) -> list[DesiredModel]:
        """The models a set generates with: a swept model's members; a list: each model named, in
        its order (versions of a model compared side by side)."""
        ctx = self.ctx
        if name is _REPORTED:
            return []
        if name is None:
            ctx.error(at, "no model to generate with", "set generate.model, or model: on this prompt set")
            return []
        if isinstance(name, list):
            return [m for i, one in enumerate(name) for m in self._members(at, one, at + ("model", i))]
        return self._members(at, name)

    def _members(self, at: SpecPath, name: str, where: SpecPath | None = None) -> list[DesiredModel]:
        ctx = self.ctx
        members = [m for m in self.models.values() if m.base_key == name or m.key == name]
        if not members:
            spec_models = ctx.names("models")
            if name in spec_models:
                return []  # the model itself has problems, reported there
            where = where or (at + ("model",) if "model" in (ctx.get(at) or {}) else ("generate", "model"))
            close = did_you_mean(name, spec_models)
            ctx.error(where, f"no model named {name!r}",
                      f"did you mean '{close}'?" if close else f"models in this spec: {', '.join(spec_models) or 'none'}")
        return members

    def _expand(self, at: SpecPath, raw: dict[str, Any], default_model: str | None,
                defaults: dict[str, Any], budget: int) -> list[GenerationRequest] | None:
        """The set's requests; None (reported) when they would exceed the budget of outputs."""
        ctx = self.ctx
        name = raw["name"]
        if "prompt" not in raw and "structured_prompt" not in raw:
            ctx.error(at, f"prompt set {name!r} has neither prompt nor structured_prompt",
                      "add prompt: (text) or structured_prompt: {prompt: ...}")
            return []
        if "seeds" in raw and "count" in raw:
            ctx.error(at + ("count",), "give either seeds or count, not both", "seeds: [1, 2] or count: 2", key=True)
            return []
        seeds = list(raw["seeds"]) if "seeds" in raw else derived_seeds(name, raw.get("count", 1))
        params = tuple(sorted({**defaults, **self._params(raw)}.items()))
        matrix: dict[str, list[Any]] = raw.get("matrix") or {}
        self._unused_matrix(at, raw, matrix)
        models = self._models_for(at, raw.get("model", default_model))
        size = len(seeds) * len(models) * math.prod(len(v) for v in matrix.values())
        if size > budget:
            self.ctx.error(at, f"the generate section expands to more than {MAX_OUTPUTS:,} images "
                               f"(this set alone: {size:,})",
                           "use fewer matrix values or seeds; every image is a paid request")
            return None
        variable_names = list(matrix)
        combos = list(itertools.product(*(matrix[n] for n in variable_names))) if variable_names else [()]
        out: list[GenerationRequest] = []
        mark = ctx.mark(at)
        for values in combos:
            variables = tuple(zip(variable_names, values))
            texts = self._texts(at, raw, dict(variables))
            if texts is None:
                continue
            prompt, negative, structured = texts
            combo_params = params if negative is None else tuple(sorted({**dict(params), "negative_prompt": negative}.items()))
            for model in models:
                for seed in seeds:
                    out.append(GenerationRequest(set_name=name, model=model.key, variables=variables, seed=seed,
                                                 prompt=prompt, structured_prompt=structured, params=combo_params,
                                                 mark=mark))
        return out

    def _texts(self, at: SpecPath, raw: dict[str, Any], variables: dict[str, Any]
               ) -> tuple[str | None, str | None, StructuredPromptSpec | None] | None:
        render = self.ctx.renderer.render
        ok = True

        def text(path: SpecPath, value: str | None) -> str | None:
            nonlocal ok
            if value is None:
                return None
            result = render(path, value, variables)
            if result is None:
                ok = False
                return None
            return str(result)

        prompt = text(at + ("prompt",), raw.get("prompt"))
        negative = text(at + ("negative_prompt",), raw.get("negative_prompt"))
        structured = None
        if "structured_prompt" in raw:
            sp = raw["structured_prompt"]
            sp_prompt = text(at + ("structured_prompt", "prompt"), sp["prompt"])
            refine = text(at + ("structured_prompt", "refine"), sp.get("refine"))
            structured = StructuredPromptSpec(prompt=sp_prompt or "", refine=refine, seed=sp.get("seed"))
        return (prompt, negative, structured) if ok else None

    def _unused_matrix(self, at: SpecPath, raw: dict[str, Any], matrix: dict[str, list[Any]]) -> None:
        texts = [raw.get("prompt"), raw.get("negative_prompt")]
        if isinstance(raw.get("structured_prompt"), dict):
            texts += [raw["structured_prompt"].get("prompt"), raw["structured_prompt"].get("refine")]
        used: set[str] = set()
        for t in texts:
            if isinstance(t, str) and has_template(t):
                try:
                    used |= meta.find_undeclared_variables(ENVIRONMENT.parse(t))
                except Exception:  # noqa: BLE001 - a syntax error is reported when rendering
                    return
        for variable in matrix:
            if variable not in used:
                self.ctx.warn(at + ("matrix", variable), f"matrix variable {variable!r} is not used in the prompt",
                              f"every value makes the same prompt again; write {{{{ {variable} }}}} into the prompt",
                              key=True)

    def _unique_stems(self, requests: list[GenerationRequest]) -> None:
        seen: dict[tuple[str, str], GenerationRequest] = {}
        for request in requests:
            stem = request.file_stem
            # a set made with several models writes each model's outputs in a folder of its own
            # (generate/outputs.py): only the same model can write the same file
            key = (stem, request.model)
            if key in seen and seen[key] != request:
                self.ctx.problems.append(self.ctx.doc.problem(
                    self._at_of(request), f"two outputs would be written to {stem}",
                    "matrix values that differ only in case or punctuation make the same file name; make them differ"))
            seen.setdefault(key, request)

    def _at_of(self, request: GenerationRequest) -> SpecPath:
        for i, raw in enumerate(self.ctx.get(("generate", "images")) or []):
            if isinstance(raw, dict) and raw.get("name") == request.set_name:
                return ("generate", "images", i)
        return ("generate",)

    def _videos(self, raw: list[Any], requests: list[GenerationRequest]) -> list[VideoRequest]:
        ctx = self.ctx
        by_stem = {r.file_stem: r for r in requests}
        # sets that made no request had a problem of their own (a wrong model, a bad template),
        # reported there: a video made from one of them is not reported again
        sets = ctx.get(("generate", "images"))
        failed_sets = {slug(str(s.get("name", ""))) for s in sets if isinstance(s, dict)} if isinstance(sets, list) else set()
        failed_sets -= {slug(r.set_name) for r in requests}
        out: list[VideoRequest] = []
        names: set[str] = set()
        for i, video in enumerate(raw):
            at = ("generate", "videos", i)
            if not isinstance(video, dict) or not ctx.sound(at):
                continue
            if slug(video["name"]) in names:
                ctx.error(at + ("name",), f"a second video named {video['name']!r}", "give each video its own name")
                continue
            names.add(slug(video["name"]))
            source = source_name(video["from"])
            request = by_stem.get(source)
            if request is None and source.split("/", 1)[0] in failed_sets:
                continue
            if request is None:
                close = did_you_mean(source, list(by_stem))
                ctx.error(at + ("from",), f"no generated image {source!r}",
                          (f"did you mean '{close}'? " if close else "")
                          + "write <set>/<file stem> of an image this spec generates, e.g. places/beach-dawn-seed1")
                continue
            out.append(VideoRequest(name=video["name"], model=request.model, source=source, seed=video.get("seed"),
                                    mark=ctx.mark(at)))
        return out
