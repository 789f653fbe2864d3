"""Run commands: plan, apply, destroy, show, refresh, import. Thin: the work is in pipeline.py.

Exit codes: 0 success; 1 error; 2 changes present (plan --detailed-exitcode); 130 interrupted.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..api.stats import ApiEvent
from ..errors import BriaPipelineError
from ..pipeline import Pipeline, load_plan_file, save_plan_file
from ..plan.document import PLAN_FORMAT, Plan, plan_to_dict
from ..plan.render_markdown import render_markdown
from ..plan.render_text import render_text
from .run_progress import progress_view
from .spec_cmds import SpecInputs, spec_options

EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 1, 2, 130
_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``2h``, ``1h30m`` -> seconds."""
    text = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(min|s|m|h|d|)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 10m, 2h, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_rate(text: str) -> float:
    """``60/min``, ``2/s``, ``1000/h`` or ``60`` -> requests per minute."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|min|m|h|hour))?\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a rate (examples: 60/min, 2/s, 1000/h)")
    per = {"s": 60, "sec": 60, None: 1, "min": 1, "m": 1, "h": 1 / 60, "hour": 1 / 60}[match.group(2)]
    return float(match.group(1)) * per


def _converter(parse: Callable[[str], float]) -> Callable[[click.Context, click.Parameter, Any], float | None]:
    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return convert


def _obj(ctx: click.Context) -> Any:
    return ctx.find_root().obj


def _color(ctx: click.Context) -> bool:
    return bool(getattr(_obj(ctx), "color", False)) and sys.stdout.isatty()


def _pipeline(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, *, sandbox: bool, **kw: Any) -> Pipeline:
    obj = _obj(ctx)
    verbose = getattr(obj, "verbose", 0)
    log_format = getattr(obj, "log_format", "text")
    on_event = None
    if verbose >= 2:
        on_event = _request_logger(log_format)
    return Pipeline(
        spec,
        vars=spec_inputs.vars,
        var_files=spec_inputs.var_files,
        sandbox=sandbox or bool(getattr(obj, "sandbox", False)),
        api_url=getattr(obj, "api_url", None),
        allow_outside=spec_inputs.allow_outside,
        on_event=on_event,
        **kw,
    )


def _request_logger(log_format: str) -> Callable[[ApiEvent], None]:
    def log(event: ApiEvent) -> None:
        if log_format == "json":
            click.echo(json.dumps({"event": event.kind, "operation": event.operation, "path": event.path,
                                   "status": event.status, "elapsed": event.elapsed}), err=True)
        else:
            click.echo(f"  api: {event.describe()}", err=True)

    return log


def _report_requests(ctx: click.Context, pipeline: Pipeline, what: str) -> None:
    if getattr(_obj(ctx), "verbose", 0) < 1:
        return
    stats = pipeline.last_requests
    ops = ", ".join(f"{k} {v}" for k, v in sorted(stats.get("operations", {}).items()))
    click.echo(f"{what}: {stats.get('total', 0)} requests ({stats.get('mutating', 0)} mutating): {ops}", err=True)


def _fail(ctx: click.Context, exc: BriaPipelineError, code: int = EXIT_ERROR) -> None:
    click.echo(click.style("error: ", fg="red") + exc.describe() if _color(ctx) else f"error: {exc.describe()}", err=True)
    ctx.exit(code)


def _specs(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a directory means every spec below it (`*.yaml`, lock files excepted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*.y*ml")
                if not p.name.endswith((".lock.yaml", ".lock.yml")) and ".bria" not in p.parts and not p.name.startswith(".")
                and p.suffix in (".yaml", ".yml") and _looks_like_spec(p)
            )
            out.extend(found)
        else:
            out.append(path)
    return out


def _looks_like_spec(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False
    return bool(re.search(r"^project\s*:", head, re.M))


sandbox_flag = click.option("--sandbox", "local_sandbox", is_flag=True, help="Same as the global --sandbox.")
target_option = click.option("--target", "targets", multiple=True, metavar="ADDR",
                             help="Limit to this address and what it depends on (repeatable), e.g. dataset.lucy.")


# --- plan ------------------------------------------------------------------------------------------


@click.command("plan")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@spec_options
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="PLAN",
              help="Save the plan: `apply PLAN` then does exactly this, and refuses it if anything changed.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="text: Terraform-style; json: per schemas/plan.schema.json; markdown: for a pull-request comment.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing would change, 2 when something would, 1 on error.")
@target_option
@click.option("--prune", is_flag=True, help="Plan deleting earlier versions and resources dropped from the spec.")
@click.option("--show-noop", is_flag=True, help="Also list what is already up to date.")
@sandbox_flag
@click.pass_context
def plan_command(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, out: Path | None, as_json: bool,
                 fmt: str, detailed_exitcode: bool, targets: tuple[str, ...], prune: bool, show_noop: bool,
                 local_sandbox: bool) -> None:
    """Show what apply would change, and why. Reads only (list calls), changes nothing.

    \b
    Examples:
      bria-pipeline plan examples/lucy/spec.yaml
      bria-pipeline --sandbox plan specs/ --format markdown > plan.md
      bria-pipeline plan spec.yaml --out plan.json && bria-pipeline apply plan.json
    """
    fmt = "json" if as_json else fmt
    paths = _specs(specs)
    if out is not None and len(paths) != 1:
        raise click.UsageError("--out saves the plan of one spec: give exactly one SPEC")
    results: list[tuple[Path, str, Plan | None]] = []
    documents = []
    for path in paths:
        pipeline = _pipeline(ctx, path, spec_inputs, sandbox=local_sandbox)
        try:
            plan = pipeline.plan(prune=prune, targets=targets)
        except BriaPipelineError as exc:
            click.echo(f"error: {path}: {exc.describe()}", err=True)
            results.append((path, "error", None))
            continue
        finally:
            pipeline.close()
        _report_requests(ctx, pipeline, f"observed {path}")
        results.append((path, "changes" if plan.has_changes else "no changes", plan))
        if out is not None:
            save_plan_file(plan, out)
        if fmt == "json":
            documents.append(plan_to_dict(plan))
        elif fmt == "markdown":
            click.echo(render_markdown(plan))
        else:
            click.echo(render_text(plan, color=_color(ctx), show_noops=show_noop))
        if out is not None:
            click.echo(f"Saved the plan to {out}. Apply exactly this with: bria-pipeline apply {out}", err=True)
    if fmt == "json":
        click.echo(json.dumps(documents[0] if len(paths) == 1 and documents else documents, indent=2, ensure_ascii=False))
    if len(paths) > 1 and fmt != "json":
        _summary_table(results, lambda p: p.summary_line() if p else "")
    if any(status == "error" for _, status, _ in results):
        ctx.exit(EXIT_ERROR)
    if detailed_exitcode and any(status == "changes" for _, status, _ in results):
        ctx.exit(EXIT_CHANGES)


def _summary_table(rows: list[tuple[Path, str, Any]], describe: Callable[[Any], str]) -> None:
    width = max(len(str(p)) for p, _, _ in rows)
    click.echo("")
    for path, status, value in rows:
        click.echo(f"{str(path):<{width}}  {status:<10}  {describe(value)}")


# --- apply -----------------------------------------------------------------------------------------


def _is_plan_file(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            return PLAN_FORMAT in handle.read(200)
    except OSError:
        return False


def _confirm(ctx: click.Context, auto_approve: bool, verb: str) -> Callable[[Plan], bool | None]:
    """Show the plan, then: --auto-approve approves; a terminal asks; elsewhere go on unapproved
    (steps that replace or delete trained work then stop the apply and ask for --auto-approve)."""

    def ask(plan: Plan) -> bool | None:
        click.echo(render_text(plan, color=_color(ctx)))
        if auto_approve or not plan.has_changes:
            return True
        if not sys.stdin.isatty():
            return None
        return click.confirm(f"Do you want to {verb} these changes?", default=False)

    return ask


@click.command("apply")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@spec_options
@click.option("--auto-approve", is_flag=True, help="Do not ask; also approves replacing or deleting trained work.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for trainings to finish; --no-wait starts them and exits 0 (the next apply picks them up).")
@click.option("--timeout", "timeout", callback=_converter(parse_duration), metavar="DURATION",
              help="Give up waiting on any one long job after this (90s, 10m, 2h); the next apply resumes it.")
@click.option("--prune", is_flag=True, help="Delete earlier versions and resources dropped from the spec.")
@target_option
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), metavar="N",
              help="Independent requests in flight at once (uploads, captions, generations).")
@click.option("--rate-limit", "rate", callback=_converter(parse_rate), metavar="N/min",
              help="Pace requests under your plan's limit, e.g. 60/min.")
@click.option("--lock-timeout", callback=_converter(parse_duration), metavar="DURATION",
              help="Wait this long for another apply of the same spec to finish (default: fail at once).")
@sandbox_flag
@click.pass_context
def apply_command(ctx: click.Context, specs: tuple[Path, ...], spec_inputs: SpecInputs, auto_approve: bool, wait: bool,
                  timeout: float | None, prune: bool, targets: tuple[str, ...], concurrency: int, rate: float | None,
                  lock_timeout: float | None, local_sandbox: bool) -> None:
    """Carry out a spec (or a saved plan): idempotent, resumable, never duplicating.

    Running it twice changes nothing; interrupting it (Ctrl-C, or worse) loses nothing: run it
    again and it picks up where it stopped.

    \b
    Examples:
      bria-pipeline --sandbox apply examples/lucy/spec.yaml --auto-approve
      bria-pipeline apply spec.yaml --no-wait          # start training, come back later
      bria-pipeline apply plan.json                    # exactly a saved plan
    """
    obj = _obj(ctx)
    paths = _specs(specs)
    results: list[tuple[Path, str, Any]] = []
    worst = 0
    for path in paths:
        saved: Plan | None = None
        spec = path
        try:
            if _is_plan_file(path):
                saved = load_plan_file(path)
                spec = Path(saved.spec_path)
                if not spec.exists() and (path.parent / saved.spec_path).exists():
                    spec = path.parent / saved.spec_path
            pipeline = _pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox, concurrency=concurrency,
                                 rate_limit_per_minute=rate, lock_timeout=lock_timeout or 0.0)
        except BriaPipelineError as exc:
            click.echo(f"error: {path}: {exc.describe()}", err=True)
            results.append((path, "error", None))
            worst = max(worst, EXIT_ERROR)
            continue
        view = progress_view(color=bool(getattr(obj, "color", False)), log_format=getattr(obj, "log_format", "text"))
        try:
            # a saved plan was reviewed when it was made: it is applied without asking again
            confirm = _confirm(ctx, auto_approve or saved is not None and not saved.needs_approval, "apply")
            with view:
                result = pipeline.apply(saved, auto_approve=auto_approve, wait=wait, timeout=timeout, prune=prune,
                                        targets=targets, on_progress=view, on_plan=confirm)
        except BriaPipelineError as exc:
            code = EXIT_INTERRUPTED if type(exc).__name__ == "ApplyInterrupted" else EXIT_ERROR
            click.echo(f"error: {path}: {exc.describe()}", err=True)
            results.append((path, "interrupted" if code == EXIT_INTERRUPTED else "error", None))
            worst = max(worst, code) if worst != EXIT_INTERRUPTED else worst
            continue
        finally:
            pipeline.close()
        _print_result(result)
        _report_requests(ctx, pipeline, f"applied {path}")
        results.append((path, "ok" if result.ok else "failed", result))
        if not result.ok:
            worst = max(worst, EXIT_ERROR)
    if len(paths) > 1:
        _summary_table(results, lambda r: r.summary() if r else "")
    if worst:
        ctx.exit(worst)


def _print_result(result: Any) -> None:
    for step in result.by_status("failed"):
        click.echo(f"FAILED {step.address}: {step.message}", err=True)
    for step in result.by_status("skipped"):
        click.echo(f"skipped {step.address}: {step.message}", err=True)
    for step in result.still_running:
        click.echo(f"running {step.address}: {step.message}")
    deferred = result.by_status("deferred")
    if deferred:
        click.echo(f"deferred {len(deferred)} step(s) that wait for it ({', '.join(s.address for s in deferred[:3])}"
                   f"{', ...' if len(deferred) > 3 else ''})")
    for note in result.notes:
        click.echo(f"Note: {note}")
    click.echo(result.summary())


# --- destroy ---------------------------------------------------------------------------------------


@click.command("destroy")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@spec_options
@click.option("--auto-approve", is_flag=True, help="Do not ask (required when not on a terminal).")
@click.option("--lock-timeout", callback=_converter(parse_duration), metavar="DURATION",
              help="Wait this long for another run of the same spec to finish.")
@sandbox_flag
@click.pass_context
def destroy_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, auto_approve: bool,
                    lock_timeout: float | None, local_sandbox: bool) -> None:
    """Delete what this spec owns, in reverse order: stop trainings (after asking), models,
    datasets, then the project if nothing else is left in it. Never touches anything else.

    \b
    Example:
      bria-pipeline destroy examples/lucy/spec.yaml
    """
    obj = _obj(ctx)
    pipeline = _pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox, lock_timeout=lock_timeout or 0.0)

    def ask(plan: Plan) -> bool:
        click.echo(render_text(plan, color=_color(ctx)))
        if auto_approve or not plan.has_changes:
            return True
        if not sys.stdin.isatty():
            click.echo("Not on a terminal: destroy needs --auto-approve.", err=True)
            return False
        return click.confirm("Really delete these resources? Trained models cannot be recovered", default=False)

    view = progress_view(color=bool(getattr(obj, "color", False)), log_format=getattr(obj, "log_format", "text"))
    try:
        with view:
            result = pipeline.destroy(auto_approve=auto_approve, on_progress=view, on_plan=ask)
    except BriaPipelineError as exc:
        _fail(ctx, exc, EXIT_INTERRUPTED if type(exc).__name__ == "ApplyInterrupted" else EXIT_ERROR)
        return
    finally:
        pipeline.close()
    _print_result(result)
    _report_requests(ctx, pipeline, "destroy")
    if not result.ok or result.cancelled:
        ctx.exit(EXIT_ERROR)


# --- show, refresh, import -------------------------------------------------------------------------


@click.command("show")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@spec_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@sandbox_flag
@click.pass_context
def show_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, as_json: bool, local_sandbox: bool) -> None:
    """Every resource this spec owns: ids, status, training progress, checkpoints, outputs.

    \b
    Example:
      bria-pipeline show examples/lucy/spec.yaml --json
    """
    pipeline = _pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox)
    try:
        state = pipeline.show()
    except BriaPipelineError as exc:
        _fail(ctx, exc)
        return
    finally:
        pipeline.close()
    _report_requests(ctx, pipeline, "show")
    if as_json:
        click.echo(json.dumps(state, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(_state_text(state))


def _state_text(state: dict[str, Any]) -> str:
    lines = [f"spec     {state['spec']}"]
    project = state["project"]
    if project is None:
        lines.append("project  (none yet)")
    else:
        lines.append(f"project  {project['name']}  id {project['id']}  {project['ip_type']}/{project['ip_medium']}")
    for d in state["datasets"]:
        mark = "*" if d["current"] else " "
        lines.append(f"dataset {mark} {d['key']:<12} {d['name']:<28} id {d['id']:<8} {d['status']:<9} "
                     f"{d['images']} images  captions {d['captions'] or '-'}")
    for m in state["models"]:
        mark = "*" if m["current"] else " "
        progress = f"  {m['progress']}" if m["progress"] else ""
        lines.append(f"model   {mark} {m['key']:<12} {m['name']:<28} id {m['id']:<8} {m['status']:<10} "
                     f"checkpoints {m['checkpoints'] or '-'}{progress}")
    outputs = state["outputs"]
    if outputs.get("total"):
        parts = ", ".join(f"{v} {k}" for k, v in outputs.items() if k != "total" and v)
        lines.append(f"outputs  {outputs['total']} ({parts})")
    if state["pending_intents"]:
        lines.append("pending  " + "; ".join(state["pending_intents"]))
    last = state.get("last_apply") or {}
    if last:
        lines.append(f"last run {last.get('operation', 'apply')} {last.get('status')} at {last.get('finished_at') or last.get('started_at')}")
    lines.append("(* = the version the spec uses)")
    lines.append(state["plan"])
    return "\n".join(lines)


@click.command("refresh")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@spec_options
@sandbox_flag
@click.pass_context
def refresh_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, local_sandbox: bool) -> None:
    """Rebuild .bria/ (remote ids, pending requests) from the remote. Changes nothing remote.

    \b
    Example:
      bria-pipeline refresh examples/lucy/spec.yaml
    """
    pipeline = _pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox)
    try:
        observed = pipeline.refresh()
    except BriaPipelineError as exc:
        _fail(ctx, exc)
        return
    finally:
        pipeline.close()
    if observed.project is None:
        click.echo(f"No project named {pipeline.desired.project.name!r} yet: nothing recorded.")
    else:
        click.echo(f"Refreshed {pipeline.state_dir / 'state.json'}: project {observed.project.name} (id {observed.project.id}), "
                   f"{len(observed.datasets)} datasets and {len(observed.models)} models in it ({observed.requests} requests).")


@click.command("import")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("address")
@click.argument("remote_id", type=int, metavar="ID")
@spec_options
@sandbox_flag
@click.pass_context
def import_command(ctx: click.Context, spec: Path, address: str, remote_id: int, spec_inputs: SpecInputs,
                   local_sandbox: bool) -> None:
    """Adopt an existing remote resource as the spec's ADDR (project, dataset.KEY, model.KEY).

    Use it when two projects share the spec's name, or to take over resources made by hand.

    \b
    Example:
      bria-pipeline import spec.yaml project 12345
    """
    pipeline = _pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox)
    try:
        message = pipeline.import_(address, remote_id)
    except BriaPipelineError as exc:
        _fail(ctx, exc)
        return
    finally:
        pipeline.close()
    click.echo(f"Imported: {message}. Run `bria-pipeline plan {spec}` to see what apply would do with it.")


COMMANDS = [plan_command, apply_command, destroy_command, show_command, refresh_command, import_command]
