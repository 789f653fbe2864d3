"""`bria-pipeline help [TOPIC | COMMAND...]`: the help pages that are not one command's.

    bria-pipeline help                 the top-level help (as --help)
    bria-pipeline help options         the global options, once, with their variables
    bria-pipeline help apply           a command's own help (as apply --help)
    bria-pipeline help state push      a subcommand's
"""

from __future__ import annotations

import click

from .global_options import GLOBALS, envvar_name

OPTIONS_PAGE = """\
Global options go before the command or after it; given in both places, the one after the
command wins (and -v counts add up). Each also comes from a BRIA_PIPELINE_<OPTION> variable;
the command line wins over the environment.

  bria-pipeline --sandbox -v apply spec.yaml
  bria-pipeline apply spec.yaml --sandbox -v              # the same
  BRIA_PIPELINE_SANDBOX=1 BRIA_PIPELINE_VERBOSE=1 bria-pipeline apply spec.yaml
"""

SPEC_OPTIONS = """\
Every command that reads a spec also takes:
  --var NAME=VALUE      set a template variable (repeatable)
  --var-file FILE       a YAML file of variables (repeatable; later files win)
  --allow-outside       image and schema files outside the spec's folder
  --backend URL         where state, outputs and the apply lock live (s3://, gs://, az://, file://)
Each command's own options come from BRIA_PIPELINE_<COMMAND>_<OPTION> variables
(BRIA_PIPELINE_APPLY_CONCURRENCY=8), as its --help lists.

Hints print commands with the options of the run that printed them (--sandbox, --api-url,
--backend, --var, --var-file, --allow-outside), so a copied hint runs against the same API
and state.

Environment: BRIA_API_TOKEN (the API token; never printed), BRIA_API_URL; NO_COLOR (no
colours), FORCE_COLOR (colours even in a pipe or CI log; NO_COLOR and --no-color win).
"""


def options_page(width: int = 100) -> str:
    """The page `help options` prints: the global options once, with their variables."""
    formatter = click.HelpFormatter(width=width)
    rows = []
    for flags, _, keywords in GLOBALS:
        shown = ", ".join(flags) + (f" {keywords['metavar']}" if keywords.get("metavar") else "")
        if isinstance(keywords.get("type"), click.Choice):
            shown += " [" + "|".join(keywords["type"].choices) + "]"
        rows.append((shown, f"{keywords['help']}  [env var: {envvar_name(flags[-1])}]"))
    rows.append(("--version", "Print the version, Python, the platform and which optional extras are installed."))
    with formatter.section("Global options"):
        formatter.write_dl(rows)
    return f"{OPTIONS_PAGE}\n{formatter.getvalue()}\n{SPEC_OPTIONS}"


@click.command("help")
@click.argument("topic", nargs=-1, metavar="[options | COMMAND...]")
@click.pass_context
def help_command(ctx: click.Context, topic: tuple[str, ...]) -> None:
    """Help pages: the global options (`help options`), or a command's help.

    \b
    Examples:
      bria-pipeline help options      # the global options and variables, once
      bria-pipeline help apply        # the same as: bria-pipeline apply --help
      bria-pipeline help state push
    """
    root = ctx.find_root()
    if not topic:
        click.echo(root.get_help())
        return
    if topic == ("options",):
        click.echo(options_page(root.max_content_width or 100).rstrip())
        return
    command: click.Command = root.command
    path = [root.info_name or "bria-pipeline"]
    for word in topic:
        found = command.get_command(root, word) if isinstance(command, click.Group) else None
        if found is None:
            raise click.UsageError(f"No such command '{' '.join((*path[1:], word))}'.", ctx=ctx)
        command = found
        path.append(word)
    with click.Context(command, info_name=" ".join(path), parent=None) as sub:
        click.echo(command.get_help(sub))


COMMANDS = [help_command]
