"""How the command line writes: when to colour, and diagnostics on stderr as text or JSON lines.

stdout carries what a command produces (a plan, a table, a path, a document); stderr carries
diagnostics: errors, warnings, progress lines, request logs, and Python logging records of the
``bria_pipeline`` loggers. With ``--log-format json`` every stderr line is one JSON object:

    {"time": "2025-01-01T12:00:00.000Z", "level": "error", "message": "...", "hint": "..."}

Every line passes through `masking.mask` first: the API token, in any form (escaped, URL-encoded,
base64), is printed as ``****``, in text and in JSON alike; `masked_stdout` does the same for
what a command prints on stdout.

Colours: never when --no-color is given, when NO_COLOR is set to anything non-empty
(https://no-color.org), when TERM=dumb, or when the stream written to is not a terminal, unless
FORCE_COLOR is set (https://force-color.org): CI logs that show colours.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TextIO

import click

from ..masking import mask, register_environment
from ..errors import BriaPipelineError
from .hints import Carried


def colour_allowed(no_color_flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """False when the user asked for none: --no-color, NO_COLOR (non-empty), or TERM=dumb."""
    env = os.environ if environ is None else environ
    return not no_color_flag and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def colour_forced(environ: Mapping[str, str] | None = None) -> bool:
    """FORCE_COLOR set (non-empty, not 0/false): colours even when the output is not a terminal, as
    CI logs can show them. --no-color, NO_COLOR and TERM=dumb still win (see colour_allowed)."""
    env = os.environ if environ is None else environ
    return env.get("FORCE_COLOR", "").strip().lower() not in ("", "0", "false", "no")


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_PREFIX = {"error": "error: ", "warning": "warning: "}
_COLOUR = {"error": "red", "warning": "yellow"}


@dataclass(frozen=True)
class Diagnostics:
    """Writes diagnostic lines to stderr, as text or one JSON object per line."""

    color: bool = False  # colour allowed (see colour_allowed); used only when stderr is a terminal
    log_format: str = "text"
    verbose: int = 0
    carried: Carried | None = field(default=None, compare=False)  # completes the commands hints name

    @property
    def json(self) -> bool:
        return self.log_format == "json"

    def stdout_colour(self) -> bool:
        return self.color and (is_terminal(sys.stdout) or colour_forced())

    def stderr_colour(self) -> bool:
        return self.color and not self.json and (is_terminal(sys.stderr) or colour_forced())

    def line(self, text: str, *, level: str = "info", **fields: Any) -> None:
        """One line: `text` as is, or in JSON {"time", "level", "message": text, **fields}.

        `fields` may override "message" (the JSON keeps the bare message, the text the whole line).
        """
        if self.json:
            record = {"time": _now(), "level": level, "message": text}
            record.update({k: v for k, v in fields.items() if v is not None})
            _echo(json.dumps(record, ensure_ascii=False, default=str))
            return
        _echo(text)

    def complete(self, text: str) -> str:
        """`text` with each ``bria-pipeline COMMAND`` in it carrying this run's options (hints.py)."""
        return self.carried.complete(text) or text if self.carried is not None else text

    def say(self, level: str, message: str, *, hint: str | None = None, **fields: Any) -> None:
        """``error: message`` (+ ``  hint: ...``), or its JSON object with a "hint" field."""
        message = self.complete(message)
        hint = self.complete(hint) if hint else hint
        if self.json:
            self.line(message, level=level, hint=hint, **fields)
            return
        prefix = _PREFIX.get(level, "")
        if prefix and self.stderr_colour():
            prefix = click.style(prefix, fg=_COLOUR[level], bold=True)
        text = prefix + message
        if hint:
            text += f"\n  hint: {hint}"
        _echo(text)

    def error(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        self.say("error", message, hint=hint, **fields)

    def warning(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        self.say("warning", message, hint=hint, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.say("info", message, **fields)

    def failure(self, exc: BaseException, *, spec: str | None = None) -> None:
        """Report an exception without a traceback (-v adds it for unexpected errors, -vv for all)."""
        where = f"{spec}: " if spec else ""
        if spec and self.carried is not None and self.carried.spec != str(spec) and str(spec).endswith((".yaml", ".yml")):
            # one of several specs: its hints name it for SPEC
            replace(self, carried=replace(self.carried, spec=str(spec))).failure(exc, spec=spec)
            return
        if isinstance(exc, BriaPipelineError):
            text, hint = _split_hint(exc)
            if spec and text.startswith(f"{spec}:"):
                where = ""  # the error names the file itself
            problems = getattr(exc, "problems", None)
            listed = [p.as_dict() for p in problems] if self.json and problems else None
            self.error(where + text, hint=hint, spec=spec, error=type(exc).__name__, problems=listed)
            show_trace = self.verbose >= 2
        else:
            if not where and self.carried is not None and self.carried.spec:
                where = f"{self.carried.spec}: "
            text, hint = unexpected(exc)
            if not self.verbose:
                hint = f"{hint}; run with -v to see the traceback" if hint else "run with -v to see the traceback"
            self.error(where + text, hint=hint, spec=spec, error=type(exc).__name__)
            show_trace = self.verbose >= 1
        if show_trace:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
            if self.json:
                self.line("traceback", level="debug", traceback=trace)
            else:
                _echo(trace)


def unexpected(exc: BaseException) -> tuple[str, str | None]:
    """An error bria-pipeline did not raise on purpose, said without Python's names: the file
    it concerns when there is one, else what went wrong, and that it is a bug to report."""
    if isinstance(exc, UnicodeDecodeError):
        return (f"a file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                "save the file as UTF-8")
    if isinstance(exc, OSError):
        names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
        reason = exc.strerror or str(exc)
        return (f"{names}: {reason}" if names else reason), None
    detail = str(exc) or "no detail"
    return f"internal error: {detail}", "this is a bug in bria-pipeline, not in your input: please report it"


def aligned(rows: list[list[str]], gap: str = "  ") -> list[str]:
    """Rows of cells as lines whose columns line up, each as wide as its widest cell (the last
    column is not padded, so no line ends in spaces)."""
    widths = [max((len(row[i]) for row in rows if i < len(row)), default=0) for i in range(max(map(len, rows), default=0))]
    return [gap.join(cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)).rstrip()
            for row in rows]


def _echo(text: str) -> None:
    """One diagnostic on stderr, the token masked in every form."""
    click.echo(mask(text), err=True)


class _MaskedStream:
    """A text stream whose writes have the token masked; everything else is the stream's own."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: Any) -> int:
        return self._inner.write(mask(text) if isinstance(text, str) else text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def masked_stdout() -> Iterator[None]:
    """While a command runs, what it prints on stdout (a plan, a table, a document) has the token
    masked too, as diagnostics do."""
    register_environment()  # commands that never build a client mask it too
    inner = sys.stdout
    sys.stdout = _MaskedStream(inner)
    try:
        yield
    finally:
        sys.stdout = inner


def _split_hint(exc: BriaPipelineError) -> tuple[str, str | None]:
    """The error's own description, and its hint apart when the description ends with it."""
    text = exc.describe()
    suffix = f"\n  hint: {exc.hint}" if exc.hint else ""
    if suffix and text.endswith(suffix):
        return text[: -len(suffix)], exc.hint
    return text, None


def is_api_event_record(record: logging.LogRecord) -> bool:
    """The API client's own DEBUG copy of an ApiEvent (``request list_projects GET ... 200``).

    The commands receive every ApiEvent through the client's `on_event` and print it as
    ``  api: ...`` with its fields (operation, status, elapsed); the logger's copy would print
    each request a second time."""
    return record.name == "bria_pipeline.api" and record.funcName == "_emit" and record.levelno == logging.DEBUG


class _DiagnosticsHandler(logging.Handler):
    """Python logging records of bria_pipeline (and of the sandbox server) through Diagnostics."""

    def __init__(self) -> None:
        super().__init__()
        self.diagnostics = Diagnostics()

    def emit(self, record: logging.LogRecord) -> None:
        if is_api_event_record(record):
            return  # the command line prints API events itself, with their fields (-vv): once
        try:
            message = record.getMessage()
            level = record.levelname.lower()
            if self.diagnostics.json:
                self.diagnostics.line(message, level=level, logger=record.name)
            elif record.levelno >= logging.WARNING:
                self.diagnostics.say(level if level in _PREFIX else "warning", message)
            else:
                self.diagnostics.line(message)
        except Exception:  # a log line must never break a run
            self.handleError(record)


_HANDLER = _DiagnosticsHandler()
LOGGERS = ("bria_pipeline", "py.warnings")  # py.warnings: Python warnings, once captured


def route_logging(diagnostics: Diagnostics, loggers: tuple[str, ...] = LOGGERS) -> None:
    """Send the named loggers' records through `diagnostics` (warnings; -v info; -vv debug)."""
    _HANDLER.diagnostics = diagnostics
    logging.captureWarnings(True)
    level = logging.WARNING if diagnostics.verbose == 0 else logging.INFO if diagnostics.verbose == 1 else logging.DEBUG
    for name in loggers:
        logger = logging.getLogger(name)
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
        logger.setLevel(level)
        logger.propagate = False
