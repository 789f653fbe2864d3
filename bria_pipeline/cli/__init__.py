"""The command line: click commands, the only place that prints or chooses exit codes.

Commands are grouped by area, one module each, and listed in `COMMANDS` below (name, where the
command lives, its one-line help); a module is imported only when one of its commands runs, so
`bria-pipeline --help` stays fast. To add a command, add its line to `COMMANDS`.

- `spec_cmds`      validate, init, schema
- `run_cmds`       plan, apply (one spec, a saved plan, or many specs with a summary table)
- `resource_cmds`  destroy, show, refresh, import
- `review_cmds`    review (the dataset review sheet), review serve (the review server)
- `sandbox_cmds`   sandbox serve
- `help_cmds`      help (the global options page, a command's help)
- `backend_cmds`   pull, force-unlock, state push/list/show/mv/rm; the --backend and --no-backend options

Shared pieces: `exit_codes` (every code, in one place), `terminal` (colours, stderr diagnostics
as text or JSON lines), `main_group` (lazy commands; errors, usage mistakes and Ctrl-C to exit
codes), `global_options` (before or after the command, or from BRIA_PIPELINE_* variables),
`spec_discovery` and `run_summary` (several specs in one run), `pipeline_options` (what the run
commands share), `run_progress` (bars, log lines and heartbeats during apply and destroy).
"""

from __future__ import annotations

import click

from .global_options import CliContext, context_from, global_options
from .main_group import LazyCommand, MainGroup, print_version
from .terminal import colour_forced, masked_stdout, route_logging

__all__ = ["COMMANDS", "CliContext", "main"]

COMMANDS = (
    LazyCommand("validate", "bria_pipeline.cli.spec_cmds:validate",
                "Check specs without sending anything: YAML, templates, schema, contract rules, every image."),
    LazyCommand("init", "bria_pipeline.cli.spec_cmds:init",
                "Start a new spec from a recipe: DIRECTORY/spec.yaml with comments, images/, schema."),
    LazyCommand("schema", "bria_pipeline.cli.spec_cmds:schema",
                "Print the spec's JSON Schema (2020-12), for editors and other tools."),
    LazyCommand("plan", "bria_pipeline.cli.run_cmds:plan_command", "Show what apply would change, and why."),
    LazyCommand("apply", "bria_pipeline.cli.run_cmds:apply_command",
                "Carry out specs (or a saved plan): idempotent, resumable, never duplicating."),
    LazyCommand("destroy", "bria_pipeline.cli.resource_cmds:destroy_command",
                "Delete what this spec owns, in reverse order: stop trainings (after asking), models, datasets, "
                "then the project if nothing else is left in it."),
    LazyCommand("show", "bria_pipeline.cli.resource_cmds:show_command",
                "Every resource this spec owns: ids, status, training progress, checkpoints, outputs."),
    LazyCommand("refresh", "bria_pipeline.cli.resource_cmds:refresh_command",
                "Rebuild .bria/ (remote ids, pending requests) from the remote."),
    LazyCommand("import", "bria_pipeline.cli.resource_cmds:import_command",
                "Adopt an existing remote resource as the spec's ADDR (project, dataset.KEY, model.KEY)."),
    LazyCommand("review", "bria_pipeline.cli.review_cmds:review_command",
                "Write the dataset review sheet; `review serve`: approve and reject outputs in a browser."),
    LazyCommand("sandbox", "bria_pipeline.cli.sandbox_cmds:sandbox_group",
                "A local, offline emulator of Bria's Tailored Generation API."),
    LazyCommand("pull", "bria_pipeline.cli.backend_cmds:pull_command",
                "Fetch the spec's outputs, thumbnails and gallery from its backend into output_dir."),
    LazyCommand("force-unlock", "bria_pipeline.cli.backend_cmds:force_unlock_command",
                "Release the backend lock of SPEC held by LOCK_ID (a run that was killed, a lost runner)."),
    LazyCommand("state", "bria_pipeline.cli.backend_cmds:state_group",
                "A spec's state: push it to a backend, list the backend's states, show, move (adopt) or forget one."),
    LazyCommand("help", "bria_pipeline.cli.help_cmds:help_command",
                "Help pages: the global options (`help options`), or a command's help."),
)

EPILOG = """\b
Exit codes: 0 ok; 1 error (bad spec, option, token, API error, failed step); 2 changes
present (plan/apply with --detailed-exitcode); 130 interrupted. Several specs: the worst.
\b
Global options also work after the command (bria-pipeline apply spec.yaml -v --api-url URL);
they are listed here and in `bria-pipeline help options`, not in each command's help.
\b
Environment: BRIA_API_TOKEN (the API token; never printed), BRIA_API_URL, NO_COLOR, FORCE_COLOR;
BRIA_PIPELINE_<OPTION> for each global option (BRIA_PIPELINE_LOG_FORMAT=json) and
BRIA_PIPELINE_<COMMAND>_<OPTION> for each command's (BRIA_PIPELINE_APPLY_CONCURRENCY=8).
\b
Shell completion (add the line to your shell's start-up file):
  bash  eval "$(_BRIA_PIPELINE_COMPLETE=bash_source bria-pipeline)"     # ~/.bashrc
  zsh   eval "$(_BRIA_PIPELINE_COMPLETE=zsh_source bria-pipeline)"      # ~/.zshrc
  fish  _BRIA_PIPELINE_COMPLETE=fish_source bria-pipeline | source     # ~/.config/fish/config.fish
"""


@click.group(cls=MainGroup, epilog=EPILOG, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=print_version,
              help="Show the version, Python, the platform and the optional extras installed, and exit.")
@global_options
@click.pass_context
def main(ctx: click.Context, sandbox: bool, api_url: str | None, no_color: bool, verbose: int, log_format: str,
         heartbeat: float | None) -> None:
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
    ctx.obj = context_from(sandbox, api_url, no_color, verbose, log_format, heartbeat)
    if ctx.obj.color and colour_forced():
        ctx.color = True  # FORCE_COLOR: click keeps the colours even in a pipe
    route_logging(ctx.obj.diagnostics)
    ctx.with_resource(masked_stdout())
