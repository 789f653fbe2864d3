"""The command line: click commands, the only place that prints or chooses exit codes.

Commands are grouped by area, one module each, and registered here:

- `spec_cmds`      validate, init, schema
- `run_cmds`       plan, apply (one spec, a saved plan, or many specs with a summary table)
- `resource_cmds`  destroy, show, refresh, import
- `review_cmds`    review (the dataset review sheet)
- `sandbox_cmds`   sandbox serve

Shared pieces: `exit_codes` (every code, in one place), `terminal` (colours, stderr diagnostics
as text or JSON lines), `main_group` (errors, usage mistakes and Ctrl-C to exit codes),
`spec_discovery` and `run_summary` (several specs in one run), `pipeline_options` (what the run
commands share).
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from bria_pipeline import __version__

from .main_group import MainGroup
from .terminal import Diagnostics, colour_allowed, route_logging

EPILOG = """\b
Exit codes: 0 ok; 1 error (bad spec, option, token, API error, failed step); 2 changes
present (plan/apply with --detailed-exitcode); 130 interrupted. Several specs: the worst.
\b
Environment: BRIA_API_TOKEN (the API token; never printed), BRIA_API_URL, NO_COLOR.
\b
Shell completion (add the line to your shell's start-up file):
  bash  eval "$(_BRIA_PIPELINE_COMPLETE=bash_source bria-pipeline)"     # ~/.bashrc
  zsh   eval "$(_BRIA_PIPELINE_COMPLETE=zsh_source bria-pipeline)"      # ~/.zshrc
  fish  _BRIA_PIPELINE_COMPLETE=fish_source bria-pipeline | source     # ~/.config/fish/config.fish
"""


@dataclass
class CliContext:
    """Global options, shared by every command through click's context object."""

    sandbox: bool = False
    api_url: str | None = None
    color: bool = True  # colour allowed; used only on a terminal (see terminal.Diagnostics)
    verbose: int = 0
    log_format: str = "text"

    @property
    def diagnostics(self) -> Diagnostics:
        return Diagnostics(color=self.color, log_format=self.log_format, verbose=self.verbose)


@click.group(cls=MainGroup, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="bria-pipeline")
@click.option("--sandbox", is_flag=True, help="Run against the built-in sandbox (persisted in .bria/ beside the spec); no token needed.")
@click.option("--api-url", metavar="URL", help="API root (default: $BRIA_API_URL, $BRIA_BASE_URL or https://engine.prod.bria-api.com).")
@click.option("--no-color", is_flag=True,
              help="No colours. Also off when NO_COLOR is set (non-empty), TERM=dumb, or output is not a terminal.")
@click.option("-v", "--verbose", count=True,
              help="More detail: request counts, info logs, the traceback of an unexpected error (-vv: every request, "
                   "debug logs, every traceback).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Diagnostics on stderr: text, or one JSON object per line (no progress bars).")
@click.pass_context
def main(ctx: click.Context, sandbox: bool, api_url: str | None, no_color: bool, verbose: int, log_format: str) -> None:
    """Declarative pipelines for Bria's Tailored Generation API.

    \b
    One YAML spec describes a project, its datasets, the visual schema, captions, models,
    training parameters and generation prompts.  `plan` shows what would change,
    `apply` carries it out: idempotent, resumable, never duplicating.

    \b
    Examples:
      bria-pipeline --sandbox apply examples/lucy/spec.yaml --auto-approve
      bria-pipeline plan specs/ --detailed-exitcode     # every spec below specs/
      bria-pipeline COMMAND --help                       # each command, with examples
    """
    ctx.obj = CliContext(sandbox=sandbox, api_url=api_url, color=colour_allowed(no_color), verbose=verbose,
                         log_format=log_format)
    route_logging(ctx.obj.diagnostics)


def _register() -> None:
    from importlib import import_module

    for name in ("spec_cmds", "run_cmds", "resource_cmds", "review_cmds", "sandbox_cmds"):
        module = import_module(f"bria_pipeline.cli.{name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()
