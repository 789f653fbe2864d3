"""How apply and destroy show their progress.

On a terminal (colour allowed, --log-format text): rich progress bars with ETA, one for the whole
run and one per long job (training steps, captions, bulk uploads, generation outputs). Otherwise
(CI logs, pipes, NO_COLOR, --log-format json): one line per finished step, nothing redrawn.
"""

from __future__ import annotations

from typing import Any

from ..apply.progress import ProgressEvent
from .terminal import Diagnostics

LINE_WORDS = {"end": "done", "fail": "FAILED", "skip": "skipped", "running": "running"}


class PlainProgress:
    """One line per finished step on stderr, nothing redrawn; JSON lines with --log-format json."""

    LEVELS = {"fail": "error", "skip": "warning"}

    def __init__(self, *, log_format: str = "text", diagnostics: Diagnostics | None = None) -> None:
        self.diagnostics = diagnostics or Diagnostics(log_format=log_format)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind not in LINE_WORDS and event.kind != "plan":
            return
        if event.kind == "plan":
            # The plan's text, summary line included, is already on stdout: JSON logs still get the event.
            if self.diagnostics.json:
                self.diagnostics.line(event.message, event="plan", total=event.total)
            return
        self.diagnostics.line(f"  {LINE_WORDS[event.kind]:<8} {event.address}: {event.message}",
                              level=self.LEVELS.get(event.kind, "info"), event=event.kind, address=event.address,
                              message=event.message)


class BarProgress:
    """rich progress bars: the whole run, plus one bar per long job while it runs."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}", markup=False),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.overall: Any = None
        self.jobs: dict[str, Any] = {}

    def __enter__(self) -> BarProgress:
        return self  # the bars start with the work, after any question about the plan

    def __exit__(self, *exc: object) -> None:
        if self.overall is not None:
            self.progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "plan":
            self.progress.start()
            self.overall = self.progress.add_task("apply", total=event.total or 0, status=event.message)
            return
        if self.overall is None:
            return
        if event.kind == "advance" and event.total:
            task = self.jobs.get(event.address)
            if task is None:
                task = self.progress.add_task(_short(event.address), total=event.total, status="")
                self.jobs[event.address] = task
            self.progress.update(task, completed=event.done or 0, total=event.total, status=event.message)
            return
        if event.kind in LINE_WORDS:
            task = self.jobs.pop(event.address, None)
            if task is not None:
                self.progress.remove_task(task)
            if self.overall is not None:
                self.progress.advance(self.overall)
                self.progress.update(self.overall, status=f"{event.address}")
            if event.kind != "end":
                style = {"fail": "red", "skip": "yellow", "running": "cyan"}[event.kind]
                from rich.text import Text

                line = Text(LINE_WORDS[event.kind], style=style)
                line.append(f" {event.address}: {event.message}")
                self.console.print(line, highlight=False)


def _short(address: str, width: int = 40) -> str:
    return address if len(address) <= width else "…" + address[-(width - 1):]


def progress_view(diagnostics: Diagnostics) -> PlainProgress | BarProgress:
    """Bars on a terminal that allows colour with text logs; plain lines everywhere else."""
    if diagnostics.stderr_colour():
        return BarProgress()
    return PlainProgress(diagnostics=diagnostics)
