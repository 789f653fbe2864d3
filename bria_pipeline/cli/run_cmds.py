"""Run commands: plan and apply, over one spec, a saved plan, or many specs. Thin: the work is in
pipeline.py; several specs run one after the other through run_summary (see exit_codes)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..apply.errors import ApprovalRequired
from ..apply.result import ApplyResult
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
from .run_progress import checkpoint_intervals, progress_view
from .run_summary import SpecOutcome, finish, run_each, select_specs
from .spec_cmds import SpecInputs, spec_options
from .terminal import Diagnostics

__all__ = ["COMMANDS", "parse_duration", "parse_rate"]

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
@click.option("--show-noop", is_flag=True, help="Also list what is already up to date.")
@click.option("--show-all", is_flag=True, help="List every step, never 'and N more like these'.")
@rate_limit_options
@request_timeout_option
@sandbox_flag
@click.pass_context
def plan_command(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, out: Path | None, as_json: bool,
                 fmt: str, detailed_exitcode: bool, targets: tuple[str, ...], prune: bool, show_noop: bool,
                 show_all: bool, rate: float | None, request_timeout: float | None, local_sandbox: bool) -> None:
    """Show what apply would change, and why. Reads only (list calls), changes nothing.

    SPECS are spec files or directories (every spec below, each with its own state); with more
    than one spec, a summary table ends the output and the exit code is the worst of them.

    \b
    Examples:
      bria-pipeline plan examples/lucy/spec.yaml
      bria-pipeline --sandbox plan specs/ --format markdown > plan.md
      bria-pipeline plan specs/ --detailed-exitcode      # 2: something would change
      bria-pipeline plan spec.yaml --out plan.json && bria-pipeline apply plan.json
    """
    fmt = "json" if as_json else fmt
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
            plan = pipeline.plan(prune=prune, targets=targets)
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


MUTATING = ("create", "update", "replace", "delete")


def confirm_plan(diag: Diagnostics, auto_approve: bool, question: str, *, operation: str = "apply",
                 saved_plan: bool = False) -> Callable[[Plan], bool | None]:
    """Show the plan, then decide (what `Pipeline.apply(on_plan=...)` asks):

    - --auto-approve approves (a saved plan, reviewed when it was made, approves what does not
      touch trained work); a plan with nothing to send (no changes, or only waits) needs no yes;
    - on a terminal, ask;
    - off a terminal (CI, a pipe, </dev/null), refuse before anything is sent, exit 1, with how
      to approve: apply raises ApprovalRequired; destroy says so and cancels.
    """

    def ask(plan: Plan) -> bool | None:
        click.echo(render_text(plan, color=diag.stdout_colour()))
        if auto_approve:
            return True
        changing = [a for a in plan.actions if a.kind in MUTATING]
        if not changing or (saved_plan and not plan.needs_approval):
            return None  # nothing to approve, or approved when the plan was saved
        if sys.stdin.isatty():
            return click.confirm(question, default=False)
        if operation == "destroy":  # the command says "Destroy cancelled: nothing was deleted." after it
            diag.error(f"not on a terminal: destroy needs --auto-approve ({_steps(changing)} in the plan)",
                       hint="review the plan above, then run again with --auto-approve")
            return False
        if saved_plan:
            listed = ", ".join(a.address for a in plan.needs_approval)
            raise ApprovalRequired(f"not on a terminal: this saved plan deletes or supersedes paid work ({listed}) "
                                   f"and {operation} needs --auto-approve; nothing was sent",
                                   hint="review the plan above, then run again with --auto-approve")
        raise ApprovalRequired(
            f"not on a terminal: {operation} needs --auto-approve to change anything ({_steps(changing)} in the plan); "
            "nothing was sent",
            hint="review the plan above, then run again with --auto-approve, or save it with "
                 "`bria-pipeline plan SPEC --out plan.json` and apply that file (a saved plan is the approval)")

    return ask


def _steps(actions: list[Any]) -> str:
    return f"{len(actions)} step{'' if len(actions) == 1 else 's'}"


def apply_counts(result: ApplyResult) -> str:
    """``Apply complete: 30 done, 0 failed, 0 skipped``: the summary without requests and time."""
    return result.summary().split(" (", 1)[0]


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
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), metavar="N",
              help="Independent requests in flight at once (uploads, captions, generations).")
@rate_limit_options
@lock_timeout_option
@detailed_exitcode_option
@sandbox_flag
@click.pass_context
def apply_command(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, auto_approve: bool, wait: bool,
                  timeout: float | None, prune: bool, targets: tuple[str, ...], concurrency: int, rate: float | None,
                  lock_timeout: float | None, detailed_exitcode: bool, local_sandbox: bool) -> None:
    """Carry out specs (or a saved plan): idempotent, resumable, never duplicating.

    Running it twice changes nothing; interrupting it (Ctrl-C, or worse) loses nothing: run it
    again and it picks up where it stopped. SPECS are spec files, saved plans (from
    `plan --out`) or directories (every spec below, each with its own state and lock); with
    more than one, a summary table ends the output and the exit code is the worst of them.

    \b
    Examples:
      bria-pipeline --sandbox apply examples/lucy/spec.yaml --auto-approve
      bria-pipeline apply spec.yaml --no-wait          # start training, come back later
      bria-pipeline apply plan.json                    # exactly a saved plan
      bria-pipeline apply specs/ --auto-approve        # every spec below specs/
    """
    selection, outcomes = select_specs(specs, diagnostics(ctx), exclude=spec_inputs.var_files)
    require_api(ctx, local_sandbox)
    diag = diagnostics(ctx)

    def apply_one(path: Path) -> SpecOutcome:
        saved: Plan | None = None
        spec = path
        if _is_plan_file(path):
            saved = load_plan_file(path)
            spec = Path(saved.spec_path)
            if not spec.exists() and (path.parent / saved.spec_path).exists():
                spec = path.parent / saved.spec_path
        pipeline = make_pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox, concurrency=concurrency,
                                 rate_limit_per_minute=rate, lock_timeout=lock_timeout or 0.0, request_timeout=timeout)
        # a saved plan was reviewed when it was made: it is applied without asking again
        confirm = confirm_plan(diag, auto_approve, "Do you want to apply these changes?", saved_plan=saved is not None)
        try:
            with progress_view(diag, heartbeat=heartbeat_of(ctx),
                               checkpoint_intervals=checkpoint_intervals(pipeline.desired)) as view:
                result = pipeline.apply(saved, auto_approve=auto_approve, wait=wait, timeout=timeout, prune=prune,
                                        targets=targets, on_progress=view, on_plan=confirm)
        finally:
            pipeline.close()
        print_result(result, diag)
        report_requests(ctx, result.requests, f"applied {path}", backend=pipeline.backend_requests)
        return result_outcome(path, result, detailed_exitcode=detailed_exitcode)

    finish(ctx, outcomes + run_each(selection.specs, apply_one, diag), diag)


def result_outcome(path: Path, result: ApplyResult, *, detailed_exitcode: bool) -> SpecOutcome:
    """An apply's row (its time is measured by run_each): failed and declined runs are errors."""
    if result.cancelled:
        return SpecOutcome(str(path), "cancelled", "declined at the prompt: nothing was changed", 0, code=EXIT_ERROR)
    requests = result.requests.get("total")
    if not result.ok:
        return SpecOutcome(str(path), "failed", apply_counts(result), requests, code=EXIT_ERROR)
    changed = bool(result.by_status("done"))
    return SpecOutcome(str(path), "ok", apply_counts(result), requests,
                       code=EXIT_CHANGES if changed and detailed_exitcode else EXIT_OK)


def print_result(result: ApplyResult, diag: Diagnostics) -> None:
    """What needs attention (stderr), then what is still going on and the summary line (stdout)."""
    for status, word, level in (("failed", "FAILED", "error"), ("skipped", "skipped", "warning")):
        for step in result.by_status(status):  # type: ignore[arg-type]
            diag.line(f"{word} {step.address}: {step.message}", level=level, event=status, address=step.address,
                      message=step.message)
    for step in result.still_running:
        click.echo(f"running {step.address}: {step.message}")
    deferred = result.by_status("deferred")
    if deferred:
        click.echo(f"deferred {len(deferred)} step(s) that wait for it ({', '.join(s.address for s in deferred[:3])}"
                   f"{', ...' if len(deferred) > 3 else ''})")
    for note in result.notes:
        click.echo(f"Note: {note}")
    click.echo(result.summary())

COMMANDS = [plan_command, apply_command]
