"""The command line: click commands, the only place that prints or chooses exit codes.

Commands are grouped by area, one module each, and registered here:

- `spec_cmds`     validate, init, schema
- `run_cmds`      plan, apply, destroy, show, refresh, import, review
- `sandbox_cmds`  sandbox serve
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import click

from bria_pipeline import __version__


@dataclass
class CliContext:
    """Global options, shared by every command through click's context object."""

    sandbox: bool = False
    api_url: str | None = None
    color: bool = True
    verbose: int = 0
    log_format: str = "text"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="bria-pipeline")
@click.option("--sandbox", is_flag=True, help="Run against the built-in sandbox (persisted in .bria/ beside the spec); no token needed.")
@click.option("--api-url", metavar="URL", help="API root (default: $BRIA_API_URL, $BRIA_BASE_URL or https://engine.prod.bria-api.com).")
@click.option("--no-color", is_flag=True, help="No colours (also when NO_COLOR is set or output is not a terminal).")
@click.option("-v", "--verbose", count=True, help="More detail: request counts, timings (-vv: every request).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Log line format on stderr.")
@click.pass_context
def main(ctx: click.Context, sandbox: bool, api_url: str | None, no_color: bool, verbose: int, log_format: str) -> None:
    """Declarative pipelines for Bria's Tailored Generation API.

    \b
    One YAML spec describes a project, its datasets, the visual schema, captions, models,
    training parameters and generation prompts.  `plan` shows what would change,
    `apply` carries it out: idempotent, resumable, never duplicating.

    \b
    Example:
      bria-pipeline --sandbox apply examples/lucy/spec.yaml --auto-approve
    """
    color = not no_color and "NO_COLOR" not in os.environ
    ctx.obj = CliContext(sandbox=sandbox, api_url=api_url, color=color, verbose=verbose, log_format=log_format)


def _register() -> None:
    from importlib import import_module

    for name in ("spec_cmds", "run_cmds", "sandbox_cmds"):
        try:
            module = import_module(f"bria_pipeline.cli.{name}")
        except ModuleNotFoundError as exc:  # an area not built yet
            if exc.name != f"bria_pipeline.cli.{name}":
                raise
            continue
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()
