"""From a spec file to a validated `Desired`, in stages, collecting every problem on the way.

1. read      a regular file inside its folder, size, UTF-8, tabs, YAML syntax, duplicate keys (yaml_source);
             the lock file beside it, as plan and apply read it (its pins must be ones the API accepts)
2. vars      spec `vars:` < `--var-file` < `--var` (variables)
3. render    Jinja2, sandboxed, string values only (templates)
4. schema    JSON Schema 2020-12, errors mapped to file:line:col (schema)
5. files     every local image resolved and inspected in one concurrent, cached pass
6. rules     cross-field rules of the contract, references between sections, expansion

Later stages skip the sections earlier ones found broken, so one mistake is reported once,
and independent mistakes are all reported together. Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from bria_pipeline.decisions import decisions_path_for
from bria_pipeline.confined import UnsafeFile, private_dir
from bria_pipeline.lockfile import LockFileError, load_lock, lock_path_for
from bria_pipeline.model import Desired, digest
from bria_pipeline.spec.context import BuildContext
from bria_pipeline.spec.dataset_builder import DatasetSection
from bria_pipeline.spec.decisions_file import apply_image_decisions, load_decisions
from bria_pipeline.spec.generation_builder import GenerationSection, deferred_path
from bria_pipeline.spec.image_facts import CacheStats, default_cache_dir
from bria_pipeline.spec.image_preflight import ImagePreflight
from bria_pipeline.spec.model_builder import ModelSection
from bria_pipeline.spec.problems import SpecErrors, SpecProblem, sort_problems
from bria_pipeline.spec.project_builder import build_project
from bria_pipeline.spec.schema import validate_against_schema
from bria_pipeline.spec.templates import Renderer
from bria_pipeline.spec.variables import (NAME, RESERVED, check_names, effective_vars, read_var_files, template_names,
                                          unknown_cli_vars)
from bria_pipeline.spec.yaml_source import read_document

STATE_DIR = ".bria"  # beside the spec (state); the file-facts cache is in the user's cache directory


@dataclass
class SpecCheck:
    """The outcome of validating one spec: the model (when there is no error) and every problem."""

    spec: Path
    desired: Desired | None
    problems: list[SpecProblem] = field(default_factory=list)
    preflight: CacheStats = field(default_factory=CacheStats)

    @property
    def errors(self) -> list[SpecProblem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[SpecProblem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors and self.desired is not None


def _cli_var_problems(values: Mapping[str, Any]) -> list[SpecProblem]:
    return [
        SpecProblem("--var", 1, 1, name, f"{name!r} is not a variable name",
                    "use letters, digits and _ (not starting with a digit)")
        for name in values
        if not NAME.match(name) or name in RESERVED
    ]


def _state_dir_problems(spec: Path, file: str) -> list[SpecProblem]:
    """`.bria/` beside the spec, where plan and apply write state and locks: an error when it, the
    spec's own folder in it, or anything directly inside them is a symbolic link."""
    try:
        private_dir(spec.parent, STATE_DIR, spec.stem)
    except UnsafeFile as exc:
        return [SpecProblem(file, 1, 1, "(file)", f"{exc.path}: {exc.message}", exc.hint)]
    return []


def _lock_problems(spec: Path) -> list[SpecProblem]:
    """The lock file beside the spec, read as plan and apply read it: its pins must be usable."""
    try:
        load_lock(lock_path_for(spec))
    except LockFileError as exc:
        return [SpecProblem(str(exc.file), exc.line or 1, exc.col or 1, "(lock file)", exc.reason, exc.hint)]
    return []


def check_spec(
    path: Path | str,
    *,
    vars: Mapping[str, Any] | None = None,
    var_files: Iterable[Path | str] | None = None,
    allow_outside: bool = False,
    cache_dir: Path | None = None,
) -> SpecCheck:
    """Validate one spec completely; never raises for a problem in the spec or its files."""
    spec = Path(path)
    doc, problems = read_document(spec, str(path), inside=None if allow_outside else spec.parent)
    file_vars, found = read_var_files(var_files or ())
    problems += found + _cli_var_problems(vars or {}) + _lock_problems(spec)
    check = SpecCheck(spec, None)
    if doc.data is None:
        check.problems = sort_problems(problems)
        return check
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a spec is a map of sections (version, project, datasets, models, generate)",
                                    "start from a recipe: bria-pipeline init --recipe defined_character DIR"))
        check.problems = sort_problems(problems)
        return check
    if doc.data.get("format") == "bria-pipeline-plan":  # a saved plan (plan --out), given where a spec goes
        made_from = doc.data.get("spec") if isinstance(doc.data.get("spec"), str) else "SPEC"
        problems.append(doc.problem((), "this looks like a saved plan (plan --out), not a spec",
                                    f"apply it with `bria-pipeline apply {path}`, or give the spec it was made "
                                    f"from: {made_from}"))
        check.problems = sort_problems(problems)
        return check

    spec_vars = given if isinstance(given := doc.data.get("vars"), dict) else {}
    problems += check_names(doc, ("vars",), spec_vars, reserved_only=True)
    variables = effective_vars(spec_vars, file_vars, vars)
    used = template_names({k: v for k, v in doc.data.items() if k != "vars"}) if vars else None
    if used is not None:  # only --var needs the names the templates read
        problems += unknown_cli_vars(vars or {}, {*spec_vars, *file_vars, *used})
    renderer = Renderer(doc, variables)
    for section in list(doc.data):
        if section != "vars":
            doc.data[section] = renderer.render_tree(doc.data[section], (section,), deferred_path)

    schema_problems, bad = validate_against_schema(doc, skip=renderer.failed)
    problems += schema_problems
    spec_dir = spec.absolute().parent.resolve()
    ctx = BuildContext(doc, spec_dir, allow_outside, renderer, bad | renderer.failed)

    preflight = ImagePreflight(ctx)
    datasets_section = DatasetSection(ctx, preflight)
    datasets_section.prepare()
    problems += _state_dir_problems(spec, str(path))
    preflight.inspect(Path(cache_dir) if cache_dir is not None else default_cache_dir(spec_dir))
    project = build_project(ctx)
    datasets = datasets_section.build()
    decisions, found = load_decisions(spec, datasets, label=str(decisions_path_for(Path(str(path)))))
    problems += found
    datasets = apply_image_decisions(datasets, decisions)
    models = ModelSection(ctx).build()
    generation = GenerationSection(ctx, models).build()

    problems += ctx.problems + renderer.problems
    check.problems = sort_problems(problems)
    check.preflight = preflight.stats
    if project is not None and not check.errors:
        check.desired = Desired(
            spec_path=spec_dir / spec.name,
            spec_dir=spec_dir,
            project=project,
            datasets=datasets,
            models=models,
            generation=generation,
            vars=variables,
            backend_url=(doc.data.get("backend") or {}).get("url") if isinstance(doc.data.get("backend"), dict) else None,
            source_hash=digest({
                "spec": doc.data,
                "vars": variables,
                "datasets": {k: d.fingerprint for k, d in sorted(datasets.items())},
                # a saved plan is refused when the decisions changed since (only with a decisions file)
                **({"decisions": [[d.address, d.decision, d.key, d.regenerate] for d in decisions.outputs]}
                   if decisions.file else {}),
            }),
            text_hash=digest({"spec": doc.data, "vars": variables}),
            decisions=decisions,
        )
    return check


def validate_spec(
    path: Path | str,
    *,
    vars: Mapping[str, Any] | None = None,
    var_files: Iterable[Path | str] | None = None,
    allow_outside: bool = False,
    cache_dir: Path | None = None,
) -> list[SpecProblem]:
    """Every problem (errors and warnings) of one spec, sorted by file position."""
    return check_spec(path, vars=vars, var_files=var_files, allow_outside=allow_outside, cache_dir=cache_dir).problems


def load_spec(
    path: Path | str,
    *,
    vars: Mapping[str, Any] | None = None,
    var_files: Iterable[Path | str] | None = None,
    allow_outside: bool = False,
    cache_dir: Path | None = None,
) -> Desired:
    """The validated desired state of one spec; raises SpecErrors holding every problem found."""
    check = check_spec(path, vars=vars, var_files=var_files, allow_outside=allow_outside, cache_dir=cache_dir)
    if not check.ok:
        raise SpecErrors(check.problems)
    assert check.desired is not None
    return check.desired
