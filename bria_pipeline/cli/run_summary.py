"""Running one command over several specs: each spec on its own, then one summary table.

`run_each` calls the command's work once per spec, times it, and turns what it returns (or
raises) into a `SpecOutcome`: one spec's error is reported and the next spec still runs. Ctrl-C
stops the whole run; the specs not reached are listed as "not run". `render_table` prints the
outcomes as text or Markdown; the exit code is the worst of the specs' (see exit_codes).

    SPEC                  RESULT      CHANGES                                            REQUESTS  TIME
    brands/a/spec.yaml    changes     Plan: 3 to create, 0 to update, 0 to replace, ...         3  0.4 s
    brands/b/spec.yaml    error       2 problems in the spec                                    -  0.0 s
    2 specs (changes: 1, error: 1); 3 requests in 0.4 s
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click

from ..apply.errors import ApplyInterrupted
from ..errors import BriaPipelineError
from .main_group import diagnostics_of
from .exit_codes import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, worst
from .spec_discovery import SPEC_RULE, SpecSelection, find_specs
from .terminal import Diagnostics

DETAIL_WIDTH = 76


@dataclass(frozen=True)
class SpecOutcome:
    """How one spec fared.

    result    ok, changes, no changes, error, failed, interrupted, not run
    detail    the CHANGES column: a plan's summary line, an apply's counts, an error's first line
    code      this spec's exit code (see exit_codes)
    error     the whole error, as printed on stderr (Markdown shows it under the table)
    """

    spec: str
    result: str
    detail: str = ""
    requests: int | None = None
    seconds: float | None = None
    code: int = EXIT_OK
    error: str | None = None


def error_outcome(spec: str | Path, exc: BaseException, *, seconds: float | None = None,
                  requests: int | None = None) -> SpecOutcome:
    interrupted = isinstance(exc, (ApplyInterrupted, KeyboardInterrupt, click.Abort))
    text = getattr(exc, "message", None) or str(exc) or ("interrupted" if interrupted else type(exc).__name__)
    first = text.strip().splitlines()[0].rstrip(":") if text.strip() else type(exc).__name__
    whole = exc.describe() if isinstance(exc, BriaPipelineError) else f"{type(exc).__name__}: {exc}"
    return SpecOutcome(str(spec), "interrupted" if interrupted else "error", first, requests, seconds,
                       EXIT_INTERRUPTED if interrupted else EXIT_ERROR, None if interrupted else whole)


def run_each(specs: Sequence[Path], work: Callable[[Path], SpecOutcome], diagnostics: Diagnostics) -> list[SpecOutcome]:
    """`work(spec)` for every spec, in order; errors become outcomes; Ctrl-C stops the rest."""
    outcomes: list[SpecOutcome] = []
    for index, spec in enumerate(specs):
        started = time.monotonic()
        try:
            outcome = work(spec)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (ApplyInterrupted, KeyboardInterrupt, click.Abort) as exc:  # Abort: Ctrl-C at a prompt
            if isinstance(exc, ApplyInterrupted):
                diagnostics.failure(exc, spec=str(spec))
            else:
                diagnostics.error(f"{spec}: interrupted", hint="run the same command again to go on")
            outcomes.append(error_outcome(spec, exc, seconds=time.monotonic() - started))
            outcomes.extend(SpecOutcome(str(rest), "not run", "an earlier spec was interrupted", code=EXIT_INTERRUPTED)
                            for rest in specs[index + 1:])
            break
        except Exception as exc:  # one spec's failure never hides the others' results
            diagnostics.failure(exc, spec=str(spec))
            outcomes.append(error_outcome(spec, exc, seconds=time.monotonic() - started))
            continue
        if outcome.seconds is None:
            outcome = replace(outcome, seconds=time.monotonic() - started)
        outcomes.append(outcome)
    return outcomes


def select_specs(paths: Sequence[Path], diagnostics: Diagnostics, *,
                 exclude: Sequence[Path] = ()) -> tuple[SpecSelection, list[SpecOutcome]]:
    """The specs `paths` stand for, and an error outcome (reported now) per directory with none."""
    selection = find_specs(paths, exclude=exclude)
    for skipped in selection.skipped if diagnostics.verbose else ():
        diagnostics.line(f"skipped {skipped}: not a spec", event="skipped", path=str(skipped), message="not a spec")
    empty = []
    for directory in selection.empty_dirs:
        diagnostics.error(f"{directory}: no spec below this directory", hint=f"a spec here is {SPEC_RULE}")
        empty.append(SpecOutcome(str(directory), "error", "no spec below this directory", code=EXIT_ERROR))
    return selection, empty


def exit_code(outcomes: Sequence[SpecOutcome]) -> int:
    return worst(o.code for o in outcomes)


def finish(ctx: click.Context, outcomes: list[SpecOutcome], diagnostics: Diagnostics, *, fmt: str = "text") -> None:
    """The summary table when more than one spec ran (or, in Markdown, when one failed), then exit
    with the worst code of them all.

    The table goes to stdout (Markdown with --format markdown); when stdout carries a JSON
    document it goes to stderr instead (one JSON line with --log-format json).
    """
    # Markdown (a pull-request comment) also reports a single spec's error, which stderr alone would hide
    if len(outcomes) > 1 or (fmt == "markdown" and any(o.error for o in outcomes)):
        if fmt == "json":
            if diagnostics.json:
                diagnostics.line(totals_line(outcomes), event="summary", specs=[asdict(o) for o in outcomes])
            else:
                click.echo("\n" + render_table(outcomes), err=True)
        else:
            click.echo("\n" + render_table(outcomes, "markdown" if fmt == "markdown" else "text"))
    code = exit_code(outcomes)
    if code != EXIT_OK:
        ctx.exit(code)


def _requests(outcome: SpecOutcome) -> str:
    return "-" if outcome.requests is None else str(outcome.requests)


def _seconds(outcome: SpecOutcome) -> str:
    return "-" if outcome.seconds is None else f"{outcome.seconds:.1f} s"


def _clip(text: str, width: int = DETAIL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def totals_line(outcomes: Sequence[SpecOutcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    requests = sum(o.requests or 0 for o in outcomes)
    seconds = sum(o.seconds or 0.0 for o in outcomes)
    parts = ", ".join(f"{result}: {n}" for result, n in counts.items())
    noun = "spec" if len(outcomes) == 1 else "specs"
    return f"{len(outcomes)} {noun} ({parts}); {requests} request{'' if requests == 1 else 's'} in {seconds:.1f} s"


def render_table(outcomes: Sequence[SpecOutcome], fmt: str = "text") -> str:
    """The summary table: SPEC, RESULT, CHANGES, REQUESTS, TIME, then a totals line."""
    if fmt == "markdown":
        return _markdown(outcomes)
    rows = [(o.spec, o.result, _clip(o.detail), _requests(o), _seconds(o)) for o in outcomes]
    head = ("SPEC", "RESULT", "CHANGES", "REQUESTS", "TIME")
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(5)]
    widths[1] = max(widths[1], 10)  # "no changes"

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]), cells[2].ljust(widths[2]),
                          cells[3].rjust(widths[3]), cells[4].rjust(widths[4])]).rstrip()

    return "\n".join([line(head), *(line(r) for r in rows), totals_line(outcomes)])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(outcomes: Sequence[SpecOutcome]) -> str:
    lines = ["#### bria-pipeline: summary", "", "| Spec | Result | Changes | Requests | Time |", "|---|---|---|---:|---:|"]
    for o in outcomes:
        result = f"**{o.result}**" if o.code not in (EXIT_OK, EXIT_CHANGES) else o.result
        lines.append(f"| `{_cell(o.spec)}` | {result} | {_cell(o.detail)} | {_requests(o)} | {_seconds(o)} |")
    lines += ["", totals_line(outcomes)]
    for o in outcomes:
        if o.error:  # the whole error, folded, so a pull-request comment says what to fix
            fence = "~~~~" if "```" in o.error else "```"
            lines += ["", f"<details><summary><code>{_cell(o.spec)}</code>: {o.result}</summary>", "",
                      f"{fence}text", o.error, fence, "", "</details>"]
    return "\n".join(lines)


# --- commands that run on one spec at a time ------------------------------------------------------

JSON_DOCUMENTS = "bria_pipeline.json_documents"  # ctx.meta: the documents of a run over several specs


def emit_json(document: Any) -> None:
    """Print a command's one JSON document on stdout; over several specs (`each_spec`), the run
    collects them and prints one list at the end instead."""
    collected = click.get_current_context().meta.get(JSON_DOCUMENTS)
    if collected is not None:
        collected.append(document)
    else:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def each_spec(command: Callable[..., Any] | None = None, *, single: bool = False, one: bool = False) -> Any:
    """The SPEC argument of a command written for one spec, taking files or directories as plan does.

    The decorated function is called with ``spec=PATH`` once per spec the paths stand for (see
    spec_discovery; --var-file files are never taken for specs). One spec: called as is, its errors and
    exit code its own. Several: each in turn through `run_each` (one spec's error never stops the
    others), then the summary table and the worst exit code (`finish`); with --json, one JSON list
    of the documents the specs gave (`emit_json`).

    `single`: one SPEC path (file or directory) rather than any number, for commands whose later
    arguments are positional too (``output SPEC [NAME]``); `one`: the path must stand for exactly one
    spec (``import SPEC ADDR ID`` adopts into one spec).
    """
    if command is None:
        return lambda f: each_spec(f, single=single, one=one)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        paths = kwargs.pop("specs")
        paths = tuple(paths) if isinstance(paths, tuple) else (paths,)
        inputs = kwargs.get("spec_inputs")
        var_files = inputs.var_files if inputs is not None else tuple(kwargs.get("spec_var_files") or ())
        diag = diagnostics_of(ctx)
        selection, outcomes = select_specs(paths, diag, exclude=var_files)
        if one and len(selection.specs) + len(outcomes) != 1:
            found = ", ".join(str(p) for p in selection.specs[:5]) or "none"
            raise click.UsageError(f"{' '.join(map(str, paths))} stands for {len(selection.specs)} specs ({found}): "
                                   f"{ctx.command.name} works on one spec, name its file", ctx=ctx)
        if len(selection.specs) == 1 and not outcomes:
            return command(*args, spec=selection.specs[0], **kwargs)
        as_json = bool(kwargs.get("as_json"))
        if as_json:
            ctx.meta[JSON_DOCUMENTS] = []

        def one_spec(path: Path) -> SpecOutcome:
            if not as_json:
                click.echo(f"\n# {path}")
            try:
                command(*args, spec=path, **kwargs)
            except click.exceptions.Exit as exc:
                code = exc.exit_code
            else:
                code = EXIT_OK
            return SpecOutcome(str(path), "ok" if code in (EXIT_OK, EXIT_CHANGES) else "failed", code=code)

        outcomes += run_each(selection.specs, one_spec, diag)
        if as_json:
            click.echo(json.dumps(ctx.meta.pop(JSON_DOCUMENTS), indent=2, ensure_ascii=False, default=str))
        finish(ctx, outcomes, diag, fmt="json" if as_json else "text")

    argument = click.argument("specs", metavar="SPEC" if single else "SPECS...", nargs=1 if single else -1,
                              required=True, type=click.Path(path_type=Path))
    return argument(wrapper)
