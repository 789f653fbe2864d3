"""Spec commands: validate, init, schema; and `spec_options`, shared with plan and apply.

`spec_options` adds --var, --var-file and --allow-outside to a command and hands it one
`SpecInputs` argument (`spec_inputs`), whose `load(path)` validates and returns the Desired.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from bria_pipeline.model import Desired
from bria_pipeline.spec import SpecCheck, check_spec, load_spec
from bria_pipeline.spec.output_dirs import OutputClaim, claim_of, read_claim, shared_output_problems
from bria_pipeline.spec.problems import SpecProblem, sort_problems
from bria_pipeline.spec.recipes import RECIPES, ScaffoldError, scaffold
from bria_pipeline.spec.schema import schema_text
from bria_pipeline.spec.variables import parse_var_option

from .exit_codes import EXIT_ERROR, EXIT_OK
from .main_group import diagnostics_of
from .run_summary import SpecOutcome, finish, run_each, select_specs
from .spec_discovery import specs_beside


@dataclass(frozen=True)
class SpecInputs:
    """How the command line asked for a spec to be read: variables and the outside-files switch."""

    vars: dict[str, Any] = field(default_factory=dict)
    var_files: tuple[Path, ...] = ()
    allow_outside: bool = False

    def check(self, path: Path | str, *, cache_dir: Path | None = None) -> SpecCheck:
        return check_spec(path, vars=self.vars, var_files=self.var_files, allow_outside=self.allow_outside,
                          cache_dir=cache_dir)

    def load(self, path: Path | str, *, cache_dir: Path | None = None) -> Desired:
        """The validated Desired; raises bria_pipeline.spec.SpecErrors with every problem."""
        return load_spec(path, vars=self.vars, var_files=list(self.var_files), allow_outside=self.allow_outside,
                         cache_dir=cache_dir)


def _carry(ctx: click.Context, param: click.Parameter, values: Any) -> Any:
    """Note a spec option given on the command line, so hints that name a command carry it too."""
    from click.core import ParameterSource

    from .global_options import CliContext

    obj = ctx.find_root().obj
    if isinstance(obj, CliContext) and values and ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE:
        flag = max(param.opts, key=len)
        obj.spec_options[flag] = [str(v) for v in values] if isinstance(values, (tuple, list)) else []
    return values


def _parse_vars(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    _carry(ctx, param, values)
    parsed: dict[str, Any] = {}
    for option in values:
        try:
            name, value = parse_var_option(option)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        parsed[name] = value
    return parsed


def spec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --var NAME=VALUE (repeatable), --var-file FILE (repeatable) and --allow-outside.

    The decorated function receives them as one keyword argument, ``spec_inputs: SpecInputs``.
    Put it below ``@click.command()`` like any option decorator.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["spec_inputs"] = SpecInputs(
            vars=kwargs.pop("spec_vars"),
            var_files=tuple(kwargs.pop("spec_var_files")),
            allow_outside=kwargs.pop("spec_allow_outside"),
        )
        return command(*args, **kwargs)

    options = [
        click.option("--var", "spec_vars", multiple=True, metavar="NAME=VALUE", callback=_parse_vars,
                     help="Set a template variable (repeatable); overrides --var-file and the spec's vars:."),
        click.option("--var-file", "spec_var_files", multiple=True, metavar="FILE",
                     type=click.Path(path_type=Path, dir_okay=False), callback=_carry,
                     help="A YAML file of template variables (repeatable; later files win); overrides vars:."),
        click.option("--allow-outside", "spec_allow_outside", is_flag=True, callback=_carry,
                     help="Allow image and schema files outside the spec's directory (and symlinks out of it)."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(desired: Desired) -> str:
    """``1 dataset, 10 images, 1 model, 10 outputs``: what a valid spec asks for."""
    images = sum(len(d.images) for d in desired.datasets.values())
    outputs = len(desired.generation.images) + len(desired.generation.videos) if desired.generation else 0
    return ", ".join([_plural(len(desired.datasets), "dataset"), _plural(images, "image"),
                      _plural(len(desired.models), "model"), _plural(outputs, "output")])


def _github_escape(text: str, *, field: bool = False) -> str:
    """GitHub's workflow-command escaping: %, CR and LF always; ':' and ',' in a property too."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if field else text


def github_annotation(problem: SpecProblem) -> str:
    """``::error file=spec.yaml,line=12,col=5,title=datasets.lucy::message  hint: ...``: GitHub
    Actions shows it on that line of the pull request's diff (paths as given: run from the
    repository's root)."""
    level = "warning" if problem.severity == "warning" else "error"
    fields = ",".join(f"{k}={_github_escape(str(v), field=True)}" for k, v in
                      (("file", problem.file), ("line", problem.line), ("col", problem.col), ("title", problem.path)))
    message = problem.message + (f"\nhint: {problem.hint}" if problem.hint else "")
    return f"::{level} {fields}::{_github_escape(message)}"


def _echo_problem(problem: SpecProblem, color: bool) -> None:
    text = problem.render()
    if color:
        head, _, rest = text.partition("\n")
        colour = "red" if problem.is_error else "yellow"
        text = click.style(head, fg=colour) + ("\n" + rest if rest else "")
    click.echo(text)  # click drops the colours when the output is not a terminal


@click.command("validate")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@spec_options
@click.option("--format", "output_format", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True,
              help="text: one line per problem (file:line:col: path: message); json: a document for tools; github: "
                   "GitHub Actions annotations (::error file=...,line=...::), shown on the pull request's lines.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Where the image facts cache lives (default: the user cache directory, e.g. ~/.cache/bria-pipeline).")
@click.pass_context
def validate(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, output_format: str,
             cache_dir: Path | None) -> None:
    """Check specs without sending anything: YAML, templates, schema, contract rules, every image.

    Reports every problem at once as FILE:LINE:COL: PATH: MESSAGE with a hint, and exits 1 if
    there is any error (warnings alone exit 0). Images are checked locally: format by content,
    at least 1024x1024, at most 12 MB, not corrupt, no duplicates. SPECS are spec files or
    directories (every spec below); with more than one spec a summary table ends the output.
    No token is needed.

    \b
    Examples:
      bria-pipeline validate examples/lucy/spec.yaml
      bria-pipeline validate specs/ --var-file prod.yaml     # every spec below specs/
      bria-pipeline validate spec.yaml --var character=Lucy --format json
      bria-pipeline validate brands/ --format github         # in a GitHub Actions step
    """
    diag = diagnostics_of(ctx)
    selection, empty = select_specs(specs, diag, exclude=spec_inputs.var_files)
    color = diag.stdout_colour()
    reports = []

    others = _output_claims(selection.specs)

    def check_one(spec: Path) -> SpecOutcome:
        check = spec_inputs.check(spec, cache_dir=cache_dir)
        own = claim_of(check.desired, str(spec)) if check.desired is not None else None
        if own is not None:  # specs of this run, and specs beside this one, never share outputs
            check.problems = sort_problems(check.problems + shared_output_problems(own, others))
        errors, warnings = len(check.errors), len(check.warnings)
        if check.ok and check.desired is not None:
            detail = summary(check.desired) + (f"; {_plural(warnings, 'warning')}" if warnings else "")
        else:
            detail = _plural(errors, "error") + (f", {_plural(warnings, 'warning')}" if warnings else "")
        if output_format == "json":
            reports.append({
                "spec": str(spec),
                "ok": check.ok,
                "summary": summary(check.desired) if check.desired else None,
                "problems": [p.as_dict() for p in check.problems],
            })
        else:
            for problem in check.problems:
                if output_format == "github":
                    click.echo(github_annotation(problem))
                else:
                    _echo_problem(problem, color)
            click.echo(f"OK: {detail} ({spec})" if check.ok else f"FAILED: {detail} ({spec})")
        return SpecOutcome(str(spec), "ok" if check.ok else "error", detail, requests=0,
                           code=EXIT_OK if check.ok else EXIT_ERROR)

    outcomes = empty + run_each(selection.specs, check_one, diag)
    if output_format == "json":
        reports += [{"spec": o.spec, "ok": False, "summary": None, "problems": [], "error": o.detail}
                    for o in outcomes if o.spec not in {r["spec"] for r in reports}]
        click.echo(json.dumps({"ok": all(o.code == EXIT_OK for o in outcomes), "specs": reports}, indent=2))
    finish(ctx, outcomes, diag, fmt=output_format)


def _output_claims(specs: tuple[Path, ...]) -> list[OutputClaim]:
    """The output folders of the specs of this run and of the specs beside them, as written."""
    paths = {spec.resolve(): spec for spec in specs}
    folders: dict[Path, Path] = {}  # one spec per folder is enough to find the specs beside them all
    for spec in specs:
        folders.setdefault(spec.resolve().parent, spec)
    for spec in folders.values():
        for sibling in specs_beside(spec):
            paths.setdefault(sibling.resolve(), sibling)
    return [claim for claim in map(read_claim, paths.values()) if claim is not None]


@click.command("init")
@click.option("--recipe", type=click.Choice(RECIPES), required=True, help="The IP type to start from.")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--placeholder-images", is_flag=True,
              help="Also draw 12 numbered placeholder images, so the new spec validates (and runs against the "
                   "sandbox) at once. Replace them before training a real model.")
@click.pass_context
def init(ctx: click.Context, recipe: str, directory: Path, placeholder_images: bool) -> None:
    """Start a new spec from a recipe: DIRECTORY/spec.yaml with comments, images/, schema.

    Writes spec.yaml, spec.schema.json (for editors), images/README.md and .gitignore;
    refuses to overwrite any existing file.

    \b
    Examples:
      bria-pipeline init --recipe defined_character my-mascot
      bria-pipeline init --recipe icons app-icons --placeholder-images
    """
    try:
        result = scaffold(recipe, directory, placeholder_images=placeholder_images)
    except ScaffoldError as exc:
        diagnostics_of(ctx).failure(exc)
        ctx.exit(EXIT_ERROR)
    for path in result.written:
        click.echo(f"  wrote {path}")
    images = "" if placeholder_images else f"put your images in {directory / 'images'}/, then "
    click.echo(f"Next: {images}bria-pipeline validate {directory / 'spec.yaml'}")


@click.command("schema")
@click.option("--plan", "plan_schema", is_flag=True,
              help="Print the schema of plan documents instead (plan --format json, saved plan files).")
def schema(plan_schema: bool) -> None:
    """Print the spec's JSON Schema (2020-12), for editors and other tools.

    \b
    Examples:
      bria-pipeline schema > spec.schema.json
      bria-pipeline schema --plan > plan.schema.json
    """
    if plan_schema:
        from importlib import resources

        click.echo(resources.files("bria_pipeline").joinpath("data/plan.schema.json").read_text(encoding="utf-8"), nl=False)
        return
    click.echo(schema_text(), nl=False)


COMMANDS = [validate, init, schema]
