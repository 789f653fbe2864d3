"""Backend commands: pull, force-unlock, state push; and the `--backend URL` option.

`--backend` can be given to any command that runs a spec; it wins over BRIA_PIPELINE_BACKEND,
which wins over the spec's `backend: {url: ...}`. It is kept on the root context object, where
`make_pipeline` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..pipeline import Pipeline
from .durations import converter, parse_duration
from .pipeline_options import lock_timeout_option, root_obj
from .spec_cmds import SpecInputs, spec_options


def _remember_backend(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        setattr(root_obj(ctx), "backend", value)
    return value


backend_option = click.option(
    "--backend", metavar="URL", expose_value=False, callback=_remember_backend,
    help="Where state, outputs and the apply lock live (s3://, gs://, az://, file://); "
         "default: $BRIA_PIPELINE_BACKEND, then the spec's backend.url.")

backend_timeout_option = click.option(
    "--timeout", "request_timeout", callback=converter(parse_duration), metavar="DURATION",
    help="Give up on any one backend request after this (30s, 2m), its retries included (default 30s).")

spec_argument = click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))


@click.command("pull")
@spec_argument
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
@spec_argument
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
    """Move a spec's state between the working copy and a backend.

    \b
    Example:
      bria-pipeline state push brands/lucy/spec.yaml --backend s3://my-team-bria/state
    """


@state_group.command("push")
@spec_argument
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


def _offline_pipeline(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, **kw: Any) -> Pipeline:
    obj = root_obj(ctx)
    pipeline = Pipeline(spec, vars=spec_inputs.vars, var_files=spec_inputs.var_files,
                        allow_outside=spec_inputs.allow_outside, backend=getattr(obj, "backend", None), **kw)
    pipeline.validate()
    return pipeline


__all__ = ["COMMANDS", "backend_option"]
COMMANDS = [pull_command, force_unlock_command, state_group]
