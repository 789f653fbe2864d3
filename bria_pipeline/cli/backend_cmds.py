"""Backend commands: pull, force-unlock, state push/list/show/mv/rm; and the `--backend URL` and
`--no-backend` options.

`--backend` can be given to any command that runs a spec; it wins over BRIA_PIPELINE_BACKEND,
which wins over the spec's `backend: {url: ...}`. `--no-backend` works locally whatever they say
(and whatever the lock file records). Both are kept on the root context object, where
`make_pipeline` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..pipeline import Pipeline
from .durations import converter, parse_duration
from .pipeline_options import lock_timeout_option, root_obj
from .run_summary import each_spec
from .spec_cmds import SpecInputs, spec_options


def _remember_backend(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        setattr(root_obj(ctx), "backend", value)
    return value


def _remember_no_backend(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        setattr(root_obj(ctx), "no_backend", True)
    return value


_backend_url_option = click.option(
    "--backend", metavar="URL", expose_value=False, callback=_remember_backend,
    help="Where state, outputs and the apply lock live (s3://, gs://, az://, file://); "
         "default: $BRIA_PIPELINE_BACKEND, then the spec's backend.url.")
_no_backend_option = click.option(
    "--no-backend", is_flag=True, expose_value=False, callback=_remember_no_backend,
    help="Work locally (state in .bria/), even when the spec, $BRIA_PIPELINE_BACKEND or the lock file names a "
         "backend: the plan says how many billed outputs that backend may already hold.")


def backend_option(function: Any) -> Any:
    """--backend URL and --no-backend."""
    return _backend_url_option(_no_backend_option(function))

backend_timeout_option = click.option(
    "--timeout", "request_timeout", callback=converter(parse_duration), metavar="DURATION",
    help="Give up on any one backend request after this (30s, 2m), its retries included (default 30s).")

spec_argument = click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))


@click.command("pull")
@each_spec
@spec_options
@backend_option
@backend_timeout_option
@click.pass_context
def pull_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, request_timeout: float | None) -> None:
    """Fetch the spec's outputs, thumbnails and gallery from its backend into output_dir.

    Every file is checked against the sha256 the manifest records; files already there and
    identical are not fetched again. Sends no API request.

    \b
    Examples:
      bria-pipeline pull brands/lucy/spec.yaml
      bria-pipeline pull spec.yaml --backend s3://my-team-bria/state
    """
    pipeline = _offline_pipeline(ctx, spec, spec_inputs, request_timeout=request_timeout)
    fetched, present = pipeline.pull()
    click.echo(f"Pulled {fetched} output(s) from {pipeline.backend_url} ({present} already here, identical); "
               f"{pipeline.backend_requests} backend request(s)")


@click.command("force-unlock")
@each_spec(single=True, one=True)
@click.argument("lock_id")
@spec_options
@backend_option
@backend_timeout_option
@click.pass_context
def force_unlock_command(ctx: click.Context, spec: Path, lock_id: str, spec_inputs: SpecInputs,
                         request_timeout: float | None) -> None:
    """Release the backend lock of SPEC held by LOCK_ID (a run that was killed, a lost runner).

    LOCK_ID is printed by the run that found the lock. Only release the lock of a run you know
    has stopped: two runs applying at once can train the same model twice.

    \b
    Example:
      bria-pipeline force-unlock brands/lucy/spec.yaml 3f9c2a7d01be
    """
    pipeline = _offline_pipeline(ctx, spec, spec_inputs, request_timeout=request_timeout)
    holder = pipeline.force_unlock(lock_id)
    click.echo(f"Released lock {lock_id} of {spec} (held by {holder.get('user', '?')} on {holder.get('host', '?')}, "
               f"running `{holder.get('command', '?')}` since {holder.get('started_at', '?')})")


@click.group("state")
def state_group() -> None:
    """A spec's state: push it to a backend, list the backend's states, show, move (adopt) or forget one.

    A spec's state is found by its lineage (recorded in spec.lock.yaml at its first apply with a
    backend), not by its folder: a spec moved with `git mv` keeps its state. None of these commands
    sends an API request or deletes anything in Bria.

    \b
    Examples:
      bria-pipeline state push brands/lucy/spec.yaml --backend s3://my-team-bria/state
      bria-pipeline state list --backend s3://my-team-bria/state
      bria-pipeline state show brands/lucy-v2/spec.yaml
      bria-pipeline state mv brands/lucy/spec brands/lucy-v2/spec.yaml
      bria-pipeline state rm brands/mira/spec.yaml
    """


@state_group.command("push")
@each_spec
@spec_options
@backend_option
@lock_timeout_option
@backend_timeout_option
@click.pass_context
def state_push_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, lock_timeout: float | None,
                       request_timeout: float | None) -> None:
    """Move the spec's local state (.bria/) and outputs (output_dir) to its backend.

    Idempotent and resumable: run it again after an interruption and it goes on; every output
    file is read back and checked against its sha256 before the manifest naming it is written.
    Sends no API request.

    \b
    Example:
      bria-pipeline state push brands/lucy/spec.yaml --backend s3://my-team-bria/state
    """
    pipeline = _offline_pipeline(ctx, spec, spec_inputs, lock_timeout=lock_timeout or 0.0,
                                 request_timeout=request_timeout)
    report = pipeline.state_push()
    click.echo(report)


@state_group.command("list")
@click.argument("spec", required=False, type=click.Path(path_type=Path, dir_okay=False))
@spec_options
@backend_option
@click.pass_context
def state_list_command(ctx: click.Context, spec: Path | None, spec_inputs: SpecInputs) -> None:
    """List every state in a backend: its key, lineage, the spec it was made for, and whether that
    spec is in this checkout.

    The backend is --backend URL, else $BRIA_PIPELINE_BACKEND, else (with SPEC) the spec's. A state
    "left behind" belongs to a spec no longer at that path (moved, renamed or deleted): `state mv
    KEY SPEC` gives it to a spec. A "forgotten" one was let go by `state rm`. Reads only.

    \b
    Example:
      bria-pipeline state list --backend s3://my-team-bria/state
    """
    from ..commands.state import list_
    from ..state.backend import resolve_backend_url
    from ..state.objects import open_store

    obj = root_obj(ctx)
    if spec is not None:
        url = _offline_pipeline(ctx, spec, spec_inputs).backend_url
    else:
        url = resolve_backend_url(getattr(obj, "backend", None), None)
    if url is None:
        raise click.UsageError("which backend? Pass --backend URL, set BRIA_PIPELINE_BACKEND, or name a SPEC whose "
                               "backend it is")
    store = open_store(url)
    listed = list_(store, spec.parent if spec is not None else Path.cwd())
    if not listed:
        click.echo(f"No state in {url}.")
    for item in listed:
        lineage = item.entry.lineage
        click.echo(f"{item.entry.key}  lineage {lineage.get('id') or '(none)'}  project "
                   f"{lineage.get('project') or '?'}  spec {item.entry.spec or '?'}  [{item.status}]")
    click.echo(f"{len(listed)} state(s); {store.requests} backend request(s)")


@state_group.command("show")
@spec_argument
@spec_options
@backend_option
@click.pass_context
def state_show_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs) -> None:
    """Where SPEC's state is, how it was found (lock file, path, moved), its lineage, records,
    outputs and last apply. Reads only.

    \b
    Example:
      bria-pipeline state show brands/lucy/spec.yaml
    """
    from ..commands.state import OLD_LAYOUT_NOTE

    pipeline = _offline_pipeline(ctx, spec, spec_inputs)
    shown = pipeline.state_show()
    located = shown.located
    if located is None:
        click.echo(f"State: {shown.state_dir / 'state.json'} (no backend: this machine only)")
    else:
        click.echo(f"State: {located.describe()}")
    if shown.moved_from:
        click.echo(f"Moved from: {shown.moved_from} (the next apply records this spec's path in the state)")
    for where in shown.old_layout:
        click.echo(f"Left over: {where} ({OLD_LAYOUT_NOTE})")
    lineage = shown.state.get("lineage") or {}
    click.echo(f"Lineage: {lineage.get('id') or '(none yet)'}  project {lineage.get('project') or '?'}  "
               f"spec {lineage.get('spec') or '?'}  created {lineage.get('created_at') or '?'}")
    for record in shown.state.get("records") or ():
        click.echo(f"  {record.get('kind')} {record.get('id')}  {record.get('name')}"
                   + (f"  ({record.get('key')})" if record.get("key") else ""))
    if shown.outputs:
        click.echo("Outputs: " + ", ".join(f"{n} {status}" for status, n in sorted(shown.outputs.items())))
    last = shown.state.get("last_apply") or {}
    if last:
        click.echo(f"Last apply: {last.get('status')} ({last.get('started_at')} - {last.get('finished_at', '...')})")


@state_group.command("mv")
@click.argument("source")
@spec_argument
@spec_options
@backend_option
@lock_timeout_option
@click.pass_context
def state_mv_command(ctx: click.Context, source: str, spec: Path, spec_inputs: SpecInputs,
                     lock_timeout: float | None) -> None:
    """Give SPEC the state at SOURCE in the backend: a key `state list` prints (brands/lucy/spec),
    or the spec path it was made for (brands/lucy/spec.yaml).

    For a state a moved spec did not find by itself (its lock file has no record of it, and git's
    history does not show the move). Nothing is copied or deleted: SPEC's lock file records the
    state's lineage and key, and the state names SPEC. A spec that still claims it lets go of it.
    Sends no API request.

    \b
    Example:
      bria-pipeline state mv brands/lucy/spec brands/lucy-v2/spec.yaml --backend s3://my-team-bria/state
    """
    pipeline = _offline_pipeline(ctx, spec, spec_inputs, lock_timeout=lock_timeout or 0.0)
    key, lineage = pipeline.state_mv(source)
    backend_url = pipeline.backend_url
    assert backend_url is not None  # state mv refuses to run without a backend
    click.echo(f"{spec} now uses the state at {backend_url.rstrip('/')}/{key}/ (lineage {lineage}); "
               f"commit {pipeline.lock_path}, which records it")


@state_group.command("rm")
@spec_argument
@spec_options
@backend_option
@lock_timeout_option
@click.pass_context
def state_rm_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, lock_timeout: float | None) -> None:
    """Make SPEC forget its state: the next apply starts a new one.

    Removes the lock file's record of the state and the local working state (.bria/<spec>/state.json);
    the backend's state, when it is SPEC's own, is marked forgotten (kept, and `state mv` adopts it
    again). Deletes nothing in Bria and no output: the next apply finds the project, datasets and
    models by name, and generates again the outputs the new state does not know (billed). For a
    copied folder (two specs recording one state), only the copy lets go. Sends no API request.

    \b
    Example:
      bria-pipeline state rm brands/mira/spec.yaml
    """
    pipeline = _offline_pipeline(ctx, spec, spec_inputs, lock_timeout=lock_timeout or 0.0)
    done = pipeline.state_rm()
    for line in done:
        click.echo(line)
    if not done:
        click.echo(f"{spec} had no state to forget")


def _offline_pipeline(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, **kw: Any) -> Pipeline:
    obj = root_obj(ctx)
    pipeline = Pipeline(spec, vars=spec_inputs.vars, var_files=spec_inputs.var_files,
                        allow_outside=spec_inputs.allow_outside, backend=getattr(obj, "backend", None),
                        no_backend=getattr(obj, "no_backend", False), **kw)
    pipeline.validate()
    return pipeline


__all__ = ["COMMANDS", "backend_option"]
COMMANDS = [pull_command, force_unlock_command, state_group]
