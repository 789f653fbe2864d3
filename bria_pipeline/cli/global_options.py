"""The global options: before the command or after it, and from the environment.

    bria-pipeline --api-url URL -v apply spec.yaml
    bria-pipeline apply spec.yaml --api-url URL -v          # the same
    BRIA_PIPELINE_API_URL=URL BRIA_PIPELINE_VERBOSE=1 bria-pipeline apply spec.yaml

`GLOBALS` defines them once. The top-level group takes them as usual (`global_options`); every
command also accepts them after its name (`accept_globals`, called when the command is loaded):
a value given there overrides the one given before the command (`-v` counts add up), through
`CliContext`, which every command reads from the root context.

Environment: each global option is ``BRIA_PIPELINE_<OPTION>`` (``BRIA_PIPELINE_LOG_FORMAT=json``);
each command option is ``BRIA_PIPELINE_<COMMAND>_<OPTION>`` (``BRIA_PIPELINE_APPLY_CONCURRENCY=8``,
``BRIA_PIPELINE_SANDBOX_SERVE_PORT=9000``), named after its long flag. `--help` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .durations import converter, parse_duration
from .hints import Carried
from .terminal import Diagnostics, route_logging

ENV_PREFIX = "BRIA_PIPELINE"
DEFAULT_HEARTBEAT = 60.0  # seconds between "Still ..." lines in logs during long waits


@dataclass
class CliContext:
    """Global options, shared by every command through click's context object."""

    sandbox: bool = False
    api_url: str | None = None
    color: bool = True  # colour allowed; used only on a terminal (see terminal.Diagnostics)
    verbose: int = 0
    log_format: str = "text"
    heartbeat: float = DEFAULT_HEARTBEAT
    backend: str | None = None  # --backend (backend_cmds.backend_option)
    spec_options: dict[str, list[str]] = field(default_factory=dict)  # --var, --var-file ... as typed
    spec: str | None = None  # the one spec file the command was given

    @property
    def carried(self) -> Carried:
        """What a command printed in a hint needs from this run (see hints.py)."""
        carried = Carried(spec=self.spec)
        if self.sandbox:
            carried.set_global("--sandbox")
        if self.api_url:
            carried.set_global("--api-url", self.api_url)
        if self.backend:
            carried.add_option("--backend", [self.backend])
        for flag, values in self.spec_options.items():
            carried.add_option(flag, values or None)
        return carried

    @property
    def diagnostics(self) -> Diagnostics:
        return Diagnostics(color=self.color, log_format=self.log_format, verbose=self.verbose, carried=self.carried)


_heartbeat = converter(parse_duration)


# (flags, dest, click.option keywords): the one definition of every global option
GLOBALS: tuple[tuple[tuple[str, ...], str, dict[str, Any]], ...] = (
    (("--sandbox",), "sandbox", dict(
        is_flag=True, help="Run against the built-in sandbox (persisted in .bria/ beside the spec); no token needed.")),
    (("--api-url",), "api_url", dict(
        metavar="URL", help="API root (default: $BRIA_API_URL, $BRIA_BASE_URL or https://engine.prod.bria-api.com).")),
    (("--no-color",), "no_color", dict(
        is_flag=True, help="No colours. Also off when NO_COLOR is set (non-empty), TERM=dumb, or output is not a terminal.")),
    (("-v", "--verbose"), "verbose", dict(
        count=True, help="More detail: request counts, info logs, the traceback of an unexpected error (-vv: every "
                         "request, debug logs, every traceback).")),
    (("--log-format",), "log_format", dict(
        type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="Diagnostics on stderr: text, or one JSON object per line (no progress bars).")),
    (("--heartbeat",), "heartbeat", dict(
        metavar="DURATION", callback=_heartbeat,
        help="In logs (no progress bars), print a 'Still training ...' line this often during long waits "
             "(default 60s; 0 turns it off).")),
)


def envvar_name(*parts: str) -> str:
    """``BRIA_PIPELINE_APPLY_RATE_LIMIT`` for ("apply", "--rate-limit")."""
    words = [p.strip("-").replace("-", "_").replace(" ", "_").upper() for p in parts if p]
    return "_".join([ENV_PREFIX, *words])


def global_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The global options on the top-level group, each with its BRIA_PIPELINE_<OPTION> variable."""
    for flags, dest, keywords in reversed(GLOBALS):
        function = click.option(*flags, dest, envvar=envvar_name(flags[-1]), show_envvar=True, **keywords)(function)
    return function


def context_from(sandbox: bool, api_url: str | None, no_color: bool, verbose: int, log_format: str,
                 heartbeat: float | None) -> CliContext:
    from .terminal import colour_allowed

    return CliContext(sandbox=sandbox, api_url=api_url, color=colour_allowed(no_color), verbose=verbose,
                      log_format=log_format, heartbeat=DEFAULT_HEARTBEAT if heartbeat is None else heartbeat)


GLOBALS_EPILOG = ("\n\nGlobal options (--sandbox, --api-url URL, -v, --no-color, --log-format, --heartbeat) go "
                  "before or after the command: `bria-pipeline help options`.")
LATE = "global_"  # dest prefix of the copies a command takes after its name


def _late(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A global option given after the command: fold it into the root context's CliContext."""
    # only what was typed after the command: the group already read the environment
    if ctx.get_parameter_source(param.name or "") is not ParameterSource.COMMANDLINE or ctx.resilient_parsing:
        return value
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        return value
    name = (param.name or "")[len(LATE):]
    if name == "verbose":
        obj.verbose += value
    elif name == "no_color":
        obj.color = obj.color and not value
    elif name == "heartbeat":
        seconds = _heartbeat(ctx, param, value)
        if seconds is not None:  # typed on the command line: never None
            obj.heartbeat = seconds
    elif name == "sandbox":
        obj.sandbox = obj.sandbox or bool(value)
    else:
        setattr(obj, name, value)
    route_logging(obj.diagnostics)
    return value


def _remember_spec(command: click.Command) -> None:
    """When the command runs, note the one spec file it was given: hints name it for SPEC."""
    invoke = command.invoke

    def remembering(ctx: click.Context) -> Any:
        obj = ctx.find_root().obj
        given = ctx.params.get("spec") or ctx.params.get("specs")
        given = given if isinstance(given, (tuple, list)) else (given,) if given else ()
        if isinstance(obj, CliContext) and len(given) == 1 and Path(given[0]).suffix.lower() in (".yaml", ".yml"):
            obj.spec = str(given[0])
        if isinstance(obj, CliContext) and ctx.params.get("local_sandbox"):  # the command's own --sandbox
            obj.sandbox = True
        return invoke(ctx)

    command.invoke = remembering  # type: ignore[method-assign]


def accept_globals(command: click.Command, path: tuple[str, ...] = ()) -> click.Command:
    """Let `command` (and, for a group, every command in it) take the global options after its
    name, and give each of its own options a BRIA_PIPELINE_<COMMAND>_<OPTION> variable."""
    if getattr(command, "_globals_accepted", False):
        return command
    command._globals_accepted = True  # type: ignore[attr-defined]
    path = path + ((command.name or ""),)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_globals(sub, path)
        return command
    _remember_spec(command)
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar is None and param.name != "local_sandbox":
            longest = max(param.opts + param.secondary_opts, key=len)
            param.envvar = envvar_name(*path, longest)
            param.show_envvar = True
    command.epilog = ((command.epilog or "") + GLOBALS_EPILOG).lstrip("\n")
    taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for flags, dest, keywords in GLOBALS:
        if taken.intersection(flags):
            continue  # the command has an option of that name already (e.g. --sandbox)
        options = dict(keywords, expose_value=False, callback=_late, allow_from_autoenv=False,
                       envvar=envvar_name(flags[-1]), show_envvar=True)
        options["help"] = f"Global option (also before the command). {keywords['help']}"
        options["show_default"] = False
        options["hidden"] = True  # listed once: the top-level --help and `bria-pipeline help options`
        if dest != "log_format":
            options.pop("default", None)
        else:
            options["default"] = None
        command.params.append(click.Option([*flags, LATE + dest], **options))
    return command
