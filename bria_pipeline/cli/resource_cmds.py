"""Commands on what one spec owns: destroy, show, refresh, import. Errors reach main_group,
which prints them (``error: ...`` + hint) and exits 1 (130 when interrupted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..apply.result import ApplyResult
from ..pipeline import Pipeline
from .backend_cmds import backend_option
from .exit_codes import EXIT_ERROR, EXIT_OK
from .pipeline_options import (
    diagnostics,
    heartbeat_of,
    lock_timeout_option,
    report_requests,
    request_timeout_option,
    run_pipeline,
    sandbox_flag,
)
from .output_cmds import document
from .run_cmds import confirm_plan, finish_run, json_option, saved_plan_of, show_all_option
from .run_progress import progress_view
from .terminal import aligned
from .spec_cmds import SpecInputs, spec_options
from .run_summary import each_spec, emit_json


@click.command("destroy")
@backend_option
@each_spec
@spec_options
@click.option("--auto-approve", is_flag=True, help="Do not ask (required when not on a terminal: without it, nothing is deleted).")
@lock_timeout_option
@show_all_option
@json_option
@sandbox_flag
@click.pass_context
def destroy_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, auto_approve: bool,
                    lock_timeout: float | None, show_all: bool, as_json: bool, local_sandbox: bool) -> None:
    """Delete what this spec owns, in reverse order: stop trainings (after asking), models,
    datasets, then the project if nothing else is left in it. Never touches anything else.

    SPECS are spec files, directories (every spec below) or destroy plans saved with
    `plan --destroy --out`. Deleting trained models or paid outputs at a terminal asks you to
    type the project's name (or `yes`). It ends with the results: what is left.

    \b
    Examples:
      bria-pipeline destroy examples/lucy/spec.yaml
      bria-pipeline --sandbox destroy examples/lucy/spec.yaml --auto-approve
      bria-pipeline plan --destroy spec.yaml --out destroy.json && bria-pipeline destroy destroy.json
    """
    diag = diagnostics(ctx)
    saved, spec = saved_plan_of(spec)
    ask = confirm_plan(diag, auto_approve, "Really delete these resources? Trained models cannot be recovered",
                       operation="destroy", saved_plan=saved is not None, to_stderr=as_json,
                       show_all=show_all)

    def destroy(pipeline: Pipeline) -> ApplyResult:
        with progress_view(diag, heartbeat=heartbeat_of(ctx)) as view:
            return pipeline.destroy(saved, auto_approve=auto_approve, on_progress=view, on_plan=ask)

    documents: list[dict[str, Any]] | None = [] if as_json else None
    pipeline, result = run_pipeline(ctx, spec, spec_inputs, local_sandbox, destroy, lock_timeout=lock_timeout or 0.0)
    report_requests(ctx, result.requests, "destroy", backend=pipeline.backend_requests)
    finish_run("destroy", spec, pipeline, result, ask.plan, diag, documents)
    if documents:
        emit_json(documents[0])
    ctx.exit(EXIT_ERROR if not result.ok or result.cancelled else EXIT_OK)


@click.command("show")
@backend_option
@each_spec
@spec_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table (schema: data/result.schema.json).")
@request_timeout_option
@sandbox_flag
@click.pass_context
def show_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, as_json: bool, request_timeout: float | None,
                 local_sandbox: bool) -> None:
    """Every resource this spec owns: ids, status, training progress, checkpoints, outputs.

    \b
    Examples:
      bria-pipeline show examples/lucy/spec.yaml
      bria-pipeline show examples/lucy/spec.yaml --json | jq '.models[].progress'
      bria-pipeline show specs/                          # every spec below specs/
    """
    pipeline, state = run_pipeline(ctx, spec, spec_inputs, local_sandbox, Pipeline.show, request_timeout=request_timeout)
    report_requests(ctx, state.get("request_stats") or state["requests"], "show", backend=pipeline.backend_requests)
    if as_json:
        emit_json(document("show", spec, **{k: v for k, v in state.items() if k != "spec"}))
        return
    click.echo(state_text(state))


def state_text(state: dict[str, Any]) -> str:
    project = state["project"]
    rows = []
    if project is None:
        rows.append(["project", " ", "(none yet)"])
    else:
        rows.append(["project", " ", project["name"], "", f"id {project['id']}", "",
                     f"{project['ip_type']}/{project['ip_medium']}"])
    for d in state["datasets"]:
        rows.append(["dataset", "*" if d["current"] else "", d["key"], d["name"], f"id {d['id']}", str(d["status"]),
                     f"{d['images']} images" + (f"  captions: {d['captions']}" if d["captions"] else "")])
    for m in state["models"]:
        progress = f"  {m['progress']}" if m["progress"] else ""
        twins = f"  ({m['same_name']} models share this name)" if m.get("same_name", 1) > 1 else ""
        rows.append(["model", "*" if m["current"] else "", m["key"], m["name"], f"id {m['id']}", str(m["status"]),
                     f"checkpoints {m['checkpoints'] or '-'}{progress}{twins}"])
    lines = [f"{'spec':<12}{state['spec']}", *aligned(rows)]  # labels as wide as "dataset  *  "
    outputs = state["outputs"]
    if outputs.get("total"):
        parts = ", ".join(f"{v} {k}" for k, v in outputs.items() if k != "total" and v)
        lines.append(f"{'outputs':<12}{outputs['total']} ({parts})")
    if state["pending_intents"]:
        lines.append(f"{'pending':<12}" + "; ".join(state["pending_intents"]))
    last = state.get("last_apply") or {}
    if last:
        lines.append(f"{'last run':<12}{last.get('operation', 'apply')} {last.get('status')} at {last.get('finished_at') or last.get('started_at')}")
    lines.append("(* = the version the spec uses)")
    lines.append(state["plan"])
    return "\n".join(lines)


@click.command("refresh")
@backend_option
@each_spec
@spec_options
@request_timeout_option
@json_option
@sandbox_flag
@click.pass_context
def refresh_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, request_timeout: float | None,
                    as_json: bool, local_sandbox: bool) -> None:
    """Rebuild .bria/ (remote ids, pending requests) from the remote. Changes nothing remote.

    \b
    Example:
      bria-pipeline refresh examples/lucy/spec.yaml
    """
    pipeline, observed = run_pipeline(ctx, spec, spec_inputs, local_sandbox, Pipeline.refresh,
                                      request_timeout=request_timeout)
    if as_json:
        project = observed.project
        emit_json(document("refresh", spec, state=str(pipeline.state_dir / "state.json"),
                           project=None if project is None else {"name": project.name, "id": project.id},
                           datasets=len(observed.datasets), models=len(observed.models), requests=observed.requests))
        return
    if observed.project is None:
        click.echo(f"No project named {pipeline.desired.project.name!r} yet: nothing recorded.")
    else:
        click.echo(f"Refreshed {pipeline.state_dir / 'state.json'}: project {observed.project.name} (id {observed.project.id}), "
                   f"{len(observed.datasets)} datasets and {len(observed.models)} models in it ({observed.requests} requests).")


@click.command("import")
@backend_option
@each_spec(single=True, one=True)
@click.argument("address", metavar="ADDR")
@click.argument("remote_id", type=int, metavar="ID")
@spec_options
@json_option
@sandbox_flag
@click.pass_context
def import_command(ctx: click.Context, spec: Path, address: str, remote_id: int, spec_inputs: SpecInputs,
                   as_json: bool, local_sandbox: bool) -> None:
    """Adopt an existing remote resource as the spec's ADDR (project, dataset.KEY, model.KEY).

    Use it when two projects share the spec's name, or to take over resources made by hand.

    \b
    Examples:
      bria-pipeline import spec.yaml project 12345
      bria-pipeline import spec.yaml dataset.lucy 67890
    """
    _, message = run_pipeline(ctx, spec, spec_inputs, local_sandbox, lambda p: p.import_(address, remote_id))
    if as_json:
        emit_json(document("import", spec, address=address, id=remote_id, message=message))
        return
    click.echo(diagnostics(ctx).complete(
        f"Imported: {message}. Run `bria-pipeline plan {spec}` to see what apply would do with it."))


COMMANDS = [destroy_command, show_command, refresh_command, import_command]
