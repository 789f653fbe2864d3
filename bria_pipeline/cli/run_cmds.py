"""Run commands: plan and apply, over one spec, a saved plan, or many specs. Thin: the work is in
pipeline.py; several specs run one after the other through run_summary (see exit_codes)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..apply.result import ApplyResult
from ..commands import approval
from ..commands.approval import Operation
from ..errors import BriaPipelineError
from ..pipeline import load_plan_file, save_plan_file
from ..plan.document import PLAN_FORMAT, Plan, plan_to_dict
from ..plan.render_markdown import render_markdown
from ..plan.render_text import render_text
from .backend_cmds import backend_option
from .exit_codes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from .pipeline_options import (
    converter,
    diagnostics,
    heartbeat_of,
    lock_timeout_option,
    request_timeout_option,
    make_pipeline,
    parse_duration,
    parse_rate,
    rate_limit_options,
    report_requests,
    require_api,
    sandbox_flag,
    target_option,
)
from .output_cmds import billed_of, results_text, run_document
from .run_progress import checkpoint_intervals, progress_view
from .run_summary import SpecOutcome, finish, run_each, select_specs
from .spec_cmds import SpecInputs, spec_options
from .terminal import Diagnostics

__all__ = ["COMMANDS", "parse_duration", "parse_rate"]

replace_option = click.option(
    "--replace", "replace", multiple=True, metavar="ADDR",
    help="Make ADDR again although it is up to date (repeatable): model.KEY trains a new version, "
         "generation.SET[NAME] or video.NAME generates the output again. Billed; shown in the plan with its cost.")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document on stdout (schema: data/result.schema.json); "
                                "the plan, progress and logs go to stderr.")
show_all_option = click.option("--show-all", is_flag=True, help="List every step, never 'and N more like these'.")
detailed_exitcode_option = click.option(
    "--detailed-exitcode", is_flag=True,
    help="Exit 2 when there are changes (plan: would change; apply: changed), 0 when none, 1 on error.")


# --- plan ------------------------------------------------------------------------------------------


@click.command("plan")
@backend_option
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@spec_options
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="PLAN",
              help="Save the plan: `apply PLAN` then does exactly this, and refuses it if anything changed.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="text: Terraform-style; json: per the schema `bria-pipeline schema --plan` prints (a list for several specs); "
                   "markdown: for a pull-request comment.")
@detailed_exitcode_option
@target_option
@click.option("--prune", is_flag=True, help="Plan deleting earlier versions and resources dropped from the spec.")
@click.option("--destroy", "destroy", is_flag=True,
              help="Plan what destroy would delete; with --out, `apply PLAN` (or `destroy PLAN`) carries out exactly that.")
@replace_option
@click.option("--show-noop", is_flag=True, help="Also list what is already up to date.")
@show_all_option
@rate_limit_options
@request_timeout_option
@sandbox_flag
@click.pass_context
def plan_command(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, out: Path | None, as_json: bool,
                 fmt: str, detailed_exitcode: bool, targets: tuple[str, ...], prune: bool, destroy: bool,
                 replace: tuple[str, ...], show_noop: bool, show_all: bool, rate: float | None,
                 request_timeout: float | None, local_sandbox: bool) -> None:
    """Show what apply would change, and why. Reads only (list calls), changes nothing.

    SPECS are spec files or directories (every spec below, each with its own state); with more
    than one spec, a summary table ends the output and the exit code is the worst of them.

    \b
    Examples:
      bria-pipeline plan examples/lucy/spec.yaml
      bria-pipeline --sandbox plan specs/ --format markdown > plan.md
      bria-pipeline plan specs/ --detailed-exitcode      # 2: something would change
      bria-pipeline plan spec.yaml --out plan.json && bria-pipeline apply plan.json
      bria-pipeline plan --destroy spec.yaml --out destroy.json   # review, then: apply destroy.json
      bria-pipeline plan spec.yaml --replace model.lucy-lora       # what retraining would cost
    """
    fmt = "json" if as_json else fmt
    if destroy and (prune or targets or replace):
        raise click.UsageError("--destroy plans deleting everything the spec owns: it takes no --prune, --target "
                               "or --replace")
    selection, outcomes = select_specs(specs, diagnostics(ctx), exclude=spec_inputs.var_files)
    if out is not None and len(selection.specs) != 1:
        raise click.UsageError("--out saves the plan of one spec: give exactly one SPEC")
    require_api(ctx, local_sandbox)
    diag = diagnostics(ctx)
    documents: list[dict[str, Any]] = []

    def plan_one(path: Path) -> SpecOutcome:
        pipeline = make_pipeline(ctx, path, spec_inputs, sandbox=local_sandbox, rate_limit_per_minute=rate,
                                 request_timeout=request_timeout)
        try:
            plan = pipeline.plan_destroy() if destroy else pipeline.plan(prune=prune, targets=targets, replace=replace)
        finally:
            pipeline.close()
        report_requests(ctx, plan.request_stats, f"observed {path}", backend=pipeline.backend_requests)
        if out is not None:
            save_plan_file(plan, out)
            diag.info(f"Saved the plan to {out}. Apply exactly this with: bria-pipeline apply {out}")
        if fmt == "json":
            documents.append(plan_to_dict(plan))
        elif fmt == "markdown":
            click.echo(render_markdown(plan, show_all=show_all))
        else:
            click.echo(render_text(plan, color=diag.stdout_colour(), show_noops=show_noop, show_all=show_all))
        changes = plan.has_changes
        return SpecOutcome(str(path), "changes" if changes else "no changes", plan.summary_line(),
                           requests=plan.requests,
                           code=EXIT_CHANGES if changes and detailed_exitcode else EXIT_OK)

    outcomes += run_each(selection.specs, plan_one, diag)
    if fmt == "json":
        single = len(selection.specs) == 1 and not selection.empty_dirs and documents
        click.echo(json.dumps(documents[0] if single else documents, indent=2, ensure_ascii=False))
    finish(ctx, outcomes, diag, fmt=fmt)


# --- apply -----------------------------------------------------------------------------------------


def _is_plan_file(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        with open(path, "rb") as handle:
            return PLAN_FORMAT.encode() in handle.read(200)
    except OSError:
        return False


def saved_plan_of(path: Path) -> tuple[Plan | None, Path]:
    """(the saved plan, its spec) when `path` is a plan saved with `plan --out`; else (None, path)."""
    if not _is_plan_file(path):
        return None, path
    saved = load_plan_file(path)
    spec = Path(saved.spec_path)
    if not spec.exists() and (path.parent / saved.spec_path).exists():
        spec = path.parent / saved.spec_path
    return saved, spec


class ShownPlan:
    """`confirm_plan`'s decision, which also keeps the plan it was shown (for the results block)."""

    def __init__(self, decide: Callable[[Plan], bool | None]) -> None:
        self.decide = decide
        self.plan: Plan | None = None

    def __call__(self, plan: Plan) -> bool | None:
        self.plan = plan
        return self.decide(plan)


def confirm_plan(diag: Diagnostics, auto_approve: bool, question: str, *, operation: Operation = "apply",
                 saved_plan: bool = False, to_stderr: bool = False, show_all: bool = False) -> ShownPlan:
    """Show the plan, then ask what commands/approval.py says it needs (what `Pipeline.apply(on_plan=...)`
    is told): nothing, a y/n question, the project's name typed out (`typed_approval`); off a
    terminal, a refusal (ApprovalRequired, exit 1) or, for destroy, an error and a cancel."""

    def ask(plan: Plan) -> bool | None:
        # --json: stdout carries the one document; the plan goes to stderr
        click.echo(render_text(plan, color=diag.stderr_colour() if to_stderr else diag.stdout_colour(), show_all=show_all),
                   err=to_stderr)
        need = approval.needed(plan, approval.Asking(operation, saved=saved_plan, auto_approve=auto_approve,
                                                     terminal=sys.stdin.isatty()))
        if need.ask == "typed_name":
            return typed_approval(plan, question, err=to_stderr)
        if need.ask == "yes_no":
            return click.confirm(question, default=False, err=to_stderr)
        if need.ask == "refuse":
            raise need.refusal()
        if need.ask == "cancel":
            diag.error(need.message, hint=need.hint)
        return need.decision

    return ShownPlan(ask)


def typed_approval(plan: Plan, question: str, *, err: bool = False) -> bool:
    """Approval of a plan that deletes or supersedes trained models or paid outputs: the person types
    the project's name (or ``yes``: `approval.accepts`). `err`: asked on stderr (stdout carries a
    JSON document)."""
    listed = "".join(f"\n  {a.address}" for a in plan.needs_approval[:10])
    more = len(plan.needs_approval) - 10
    click.echo(f"{question}\nThis deletes or supersedes paid work that cannot be recovered:{listed}"
               + (f"\n  ... and {more} more" if more > 0 else ""), err=err)
    answer = click.prompt(approval.typed_prompt(plan), default="", show_default=False, err=err)
    return approval.accepts(plan, answer)


def apply_counts(result: ApplyResult) -> str:
    """``Apply complete: 30 done, 0 failed, 0 skipped``: the summary's counts, read from the result's
    typed counts (without requests and time)."""
    return result.counts_line()


@click.command("apply")
@backend_option
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@spec_options
@click.option("--auto-approve", is_flag=True, help="Do not ask; also approves replacing or deleting trained work.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for trainings to finish; --no-wait starts them and exits 0 (the next apply picks them up).")
@click.option("--timeout", "timeout", callback=converter(parse_duration), metavar="DURATION",
              help="Give up waiting on any one long job after this (90s, 10m, 2h); the next apply resumes it. "
                   "Also bounds every API request and every backend request, its retries included.")
@click.option("--prune", is_flag=True, help="Delete earlier versions and resources dropped from the spec.")
@target_option
@replace_option
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), metavar="N",
              help="Independent requests in flight at once (uploads, captions, generations).")
@rate_limit_options
@lock_timeout_option
@detailed_exitcode_option
@show_all_option
@json_option
@sandbox_flag
@click.pass_context
def apply_command(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, auto_approve: bool, wait: bool,
                  timeout: float | None, prune: bool, targets: tuple[str, ...], replace: tuple[str, ...],
                  concurrency: int, rate: float | None, lock_timeout: float | None, detailed_exitcode: bool,
                  show_all: bool, as_json: bool, local_sandbox: bool) -> None:
    """Carry out specs (or a saved plan): idempotent, resumable, never duplicating.

    Running it twice changes nothing; interrupting it (Ctrl-C, or worse) loses nothing: run it
    again and it picks up where it stopped. SPECS are spec files, saved plans (from
    `plan --out`, `plan --destroy --out`) or directories (every spec below, each with its own
    state and lock); with more than one, a summary table ends the output and the exit code is
    the worst of them. It ends with the results: the gallery, each model's id and version,
    counts, what was billed (`bria-pipeline output SPEC` prints them again later).

    \b
    Examples:
      bria-pipeline --sandbox apply examples/lucy/spec.yaml --auto-approve
      bria-pipeline apply spec.yaml --no-wait          # start training, come back later
      bria-pipeline apply plan.json                    # exactly a saved plan
      bria-pipeline apply specs/ --auto-approve        # every spec below specs/
      bria-pipeline apply spec.yaml --replace 'generation.places[beach-dawn-seed1]'
      bria-pipeline apply spec.yaml --auto-approve --json | jq .results.models
    """
    selection, outcomes = select_specs(specs, diagnostics(ctx), exclude=spec_inputs.var_files)
    require_api(ctx, local_sandbox)
    diag = diagnostics(ctx)
    documents: list[dict[str, Any]] = []

    def apply_one(path: Path) -> SpecOutcome:
        saved, spec = saved_plan_of(path)
        destroying = saved is not None and saved.operation == "destroy"
        pipeline = make_pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox, concurrency=concurrency,
                                 rate_limit_per_minute=rate, lock_timeout=lock_timeout or 0.0, request_timeout=timeout)
        # a saved plan was reviewed when it was made: it is applied without asking again
        confirm = confirm_plan(diag, auto_approve, "Really delete these resources? Trained models cannot be recovered"
                               if destroying else "Do you want to apply these changes?", saved_plan=saved is not None,
                               operation="destroy" if destroying else "apply", to_stderr=as_json,
                               show_all=show_all)
        try:
            with progress_view(diag, heartbeat=heartbeat_of(ctx),
                               checkpoint_intervals=checkpoint_intervals(pipeline.desired)) as view:
                if destroying:
                    result = pipeline.destroy(saved, auto_approve=auto_approve, on_progress=view, on_plan=confirm)
                else:
                    result = pipeline.apply(saved, auto_approve=auto_approve, wait=wait, timeout=timeout, prune=prune,
                                            targets=targets, replace=replace, on_progress=view, on_plan=confirm)
        finally:
            pipeline.close()
        report_requests(ctx, result.requests, f"applied {path}", backend=pipeline.backend_requests)
        finish_run("destroy" if destroying else "apply", spec, pipeline, result, confirm.plan, diag,
                   documents if as_json else None)
        return result_outcome(path, result, detailed_exitcode=detailed_exitcode)

    outcomes += run_each(selection.specs, apply_one, diag)
    single = len(selection.specs) == 1 and not selection.empty_dirs
    if as_json and (documents or not single):  # one spec that failed before its run: its error alone, on stderr
        click.echo(json.dumps(documents[0] if single else documents, indent=2, ensure_ascii=False, default=str))
    finish(ctx, outcomes, diag, fmt="json" if as_json else "text")


def finish_run(command: str, spec: Path, pipeline: Any, result: ApplyResult, plan: Plan | None, diag: Diagnostics,
               documents: list[dict[str, Any]] | None) -> None:
    """How apply or destroy ended: what needs attention and the summary line, then the results block
    (from the state the run left: no API request); with --json (`documents`), its document instead,
    and the lines above on stderr."""
    if result.cancelled and command == "destroy":
        click.echo("Destroy cancelled: nothing was deleted.", err=documents is not None)
    else:
        print_result(result, diag, err=documents is not None)
    results = None
    if not result.cancelled:
        try:
            results = pipeline.results()
        except BriaPipelineError as exc:  # the run is done; its results block is not worth failing it
            diag.line(f"the results could not be read: {exc.describe()}", level="warning")
    if documents is not None:
        documents.append(run_document(command, spec, result, plan, results))
    elif results is not None:
        click.echo("\n" + results_text(results, billed_of(plan, result)))


def result_outcome(path: Path, result: ApplyResult, *, detailed_exitcode: bool) -> SpecOutcome:
    """An apply's row (its time is measured by run_each): failed and declined runs are errors."""
    if result.cancelled:
        return SpecOutcome(str(path), "cancelled", "declined at the prompt: nothing was changed", 0, code=EXIT_ERROR)
    requests = result.requests.get("total")
    if not result.ok:
        return SpecOutcome(str(path), "failed", apply_counts(result), requests, code=EXIT_ERROR)
    changed = result.counts.done > 0
    return SpecOutcome(str(path), "ok", apply_counts(result), requests,
                       code=EXIT_CHANGES if changed and detailed_exitcode else EXIT_OK)


def print_result(result: ApplyResult, diag: Diagnostics, *, err: bool = False) -> None:
    """What needs attention (stderr), then what is still going on and the summary line (stdout;
    `err`: stderr too, when stdout carries a JSON document)."""
    for status, word, level in (("failed", "FAILED", "error"), ("skipped", "skipped", "warning")):
        for step in result.by_status(status):  # type: ignore[arg-type]
            diag.line(f"{word} {step.address}: {step.message}", level=level, event=status, address=step.address,
                      message=step.message)
    for step in result.still_running:
        click.echo(f"running {step.address}: {step.message}", err=err)
    deferred = result.by_status("deferred")
    if deferred:
        click.echo(f"deferred {len(deferred)} step(s) that wait for it ({', '.join(s.address for s in deferred[:3])}"
                   f"{', ...' if len(deferred) > 3 else ''})", err=err)
    for note in result.notes:
        click.echo(f"Note: {note}", err=err)
    click.echo(result.summary(), err=err)

COMMANDS = [plan_command, apply_command]
