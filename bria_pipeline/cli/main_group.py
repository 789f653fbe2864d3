"""The top-level click group: how errors, usage mistakes and Ctrl-C end a run (see exit_codes).

- an error bria-pipeline raises on purpose (BriaPipelineError): ``error: ...`` and its hint, no
  traceback (-vv adds it), exit 1;
- anything unexpected: ``error: unexpected <type>: ...``, the traceback with -v, exit 1;
- a usage mistake (unknown option, bad value, missing argument): ``error: ...`` with the usage
  line as the hint, exit 1 (click's own default would be 2, which --detailed-exitcode means
  "changes present");
- Ctrl-C, or an aborted prompt: ``error: interrupted``, exit 130.

With --log-format json each of these is one JSON line on stderr.

Commands load lazily: the group knows each command's name, module and one-line help
(`LazyCommand`), and imports a command's module only when that command runs (or its own
--help is asked for). `bria-pipeline --help` therefore imports click and little else. Every
command, once loaded, also takes the global options after its name (see global_options).
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import click

from ..apply.errors import ApplyInterrupted
from .exit_codes import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from .global_options import accept_globals
from .terminal import Diagnostics


def diagnostics_of(ctx: click.Context | None) -> Diagnostics:
    """The run's Diagnostics (from the global options), or plain text ones before they are parsed."""
    obj = ctx.find_root().obj if ctx is not None else None
    found = getattr(obj, "diagnostics", None)
    return found if isinstance(found, Diagnostics) else Diagnostics()


def print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--version: the package's version, then Python, the platform and the optional extras."""
    if not value or ctx.resilient_parsing:
        return
    from .version import version_text

    click.echo(version_text())
    ctx.exit(EXIT_OK)


# the sections of --help: commands by task, in the order they are used
TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Write and check specs", ("init", "validate", "schema")),
    ("Plan and apply", ("plan", "apply", "destroy")),
    ("Look at what exists", ("show", "output", "review")),
    ("Repair and adopt state", ("refresh", "import", "force-unlock")),
    ("Backends (state and outputs in a bucket)", ("pull", "state")),
    ("Try it offline; more help", ("sandbox", "help")),
)


def suggestion(name: str, choices: Iterable[str]) -> str | None:
    """The command meant by a mistyped `name` ("aply" -> "apply"), if one is close enough."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


@dataclass(frozen=True)
class LazyCommand:
    """A command known by name before its module is imported: ``module:attribute`` and the
    one line the top-level --help shows (kept equal to the command's own by a test)."""

    name: str
    target: str
    short_help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class MainGroup(click.Group):
    """The top-level group: lazy commands, global options after any command, errors to exit codes."""

    def __init__(self, *args: Any, lazy: Iterable[LazyCommand] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommand] = {}
        for entry in lazy:
            self.add_lazy(entry)

    def add_lazy(self, entry: LazyCommand) -> None:
        """Register a command by name; its module is imported when the command is used."""
        self.lazy[entry.name] = entry

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in self.lazy:
            command = self.lazy[cmd_name].load()
            self.commands[cmd_name] = command
        return accept_globals(command) if command is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help, grouped by task, from the lazy table: nothing is imported to
        show it. A command no task names is listed under "Other commands"."""
        rows: dict[str, tuple[str, str]] = {}
        for name in self.list_commands(ctx):
            if name in self.commands or name not in self.lazy:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                rows[name] = (name, command.get_short_help_str(formatter.width - 6 - len(name)))
            else:
                rows[name] = (name, self.lazy[name].short_help)
        for title, names in (*TASKS, ("Other commands", tuple(sorted(set(rows) - {n for _, ns in TASKS for n in ns})))):
            listed = [rows[n] for n in names if n in rows]
            if listed:
                with formatter.section(title):
                    formatter.write_dl(listed)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, click.Abort):
            diagnostics_of(ctx).error("interrupted", hint="every finished step is recorded: run the same command again to go on")
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except ApplyInterrupted as exc:
            diagnostics_of(ctx).failure(exc)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # the one place an unexpected error becomes a message, not a traceback
            diagnostics_of(ctx).failure(exc)
            raise click.exceptions.Exit(EXIT_ERROR) from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            returned = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = returned if isinstance(returned, int) else EXIT_OK
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `bria-pipeline`: the help, not an error
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            code = EXIT_OK
        except click.UsageError as exc:
            _usage_error(exc)
            code = EXIT_ERROR
        except click.ClickException as exc:
            diagnostics_of(getattr(exc, "ctx", None)).error(exc.format_message())
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt, EOFError):
            Diagnostics().error("interrupted")
            code = EXIT_INTERRUPTED
        sys.exit(code)


_NO_SUCH_COMMAND = re.compile(r"No such command '(.+?)'\.")


def _usage_error(exc: click.UsageError) -> None:
    ctx = exc.ctx
    hint = None
    if ctx is not None:
        usage = ctx.get_usage().replace("Usage: ", "usage: ", 1).replace("\n", " ")
        hint = f"{' '.join(usage.split())}; more with `{ctx.command_path} --help`"
        mistyped = _NO_SUCH_COMMAND.match(exc.format_message())
        if mistyped and isinstance(ctx.command, click.Group):  # any group: the top level, state, sandbox
            meant = suggestion(mistyped.group(1), ctx.command.list_commands(ctx))
            if meant:
                hint = f"did you mean `{ctx.command_path} {meant}`? The commands: `{ctx.command_path} --help`"
    diagnostics_of(ctx).error(exc.format_message(), hint=hint)
