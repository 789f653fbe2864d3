"""How apply and destroy show their progress.

On a terminal (colour allowed, --log-format text): rich progress bars, one for the whole run and
one per long job (training, captions, bulk uploads, generation outputs). A job's bar moves with
the job's own progress, extrapolated between polls from the rate seen so far (a training reports
progress only at checkpoints), and shows its estimate; the whole run's bar shows none, since it
mostly waits on those jobs.

Otherwise (CI logs, pipes, NO_COLOR, --log-format json): one line per finished step, nothing
redrawn, and a heartbeat during long waits, every `heartbeat` seconds (--heartbeat, default 60 s),
so a CI log is never silent for long:

    Still training model.lucy-lora [12m elapsed, InProgress, checkpoint 1/2, about 20m left]
    Still applying [3m elapsed, 12/30 steps done; in flight: dataset.lucy.images]

Time comes from an injectable `clock` and the view's `tick()`; a background thread calls `tick()`
about once a second (tests call it themselves with a clock of their own).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..apply.progress import ProgressEvent
from .durations import format_duration
from .terminal import Diagnostics

LINE_WORDS = {"end": "done", "fail": "FAILED", "skip": "skipped", "running": "running"}
# address suffix -> (what the job is doing, the status words its poll messages start with)
JOB_KINDS = {".training": "training", ".captions": "captioning", ".images": "uploading"}
STATUS_PREFIXES = ("training ", "captions ", "bulk upload ")
Clock = Callable[[], float]


@dataclass
class Job:
    """One long wait: when it started, what it last reported, and how fast it has moved."""

    address: str
    started: float
    status: str = ""
    done: int | None = None
    total: int | None = None
    checkpoint_interval: int | None = None
    first: tuple[float, int] | None = None  # (time, done) of the first report with a count
    moved: tuple[float, int] | None = None  # (time, done) of the last report that moved
    said: float = 0.0  # when its last heartbeat (or its start) was written
    task: Any = field(default=None, repr=False)  # its rich task, on a terminal

    @property
    def verb(self) -> str:
        if self.address == "generation":
            return "generating"
        return next((verb for suffix, verb in JOB_KINDS.items() if self.address.endswith(suffix)), "waiting on")

    @property
    def label(self) -> str:
        if self.address == "generation":
            return "outputs"
        for suffix in (".training", ".captions"):
            if self.address.endswith(suffix):
                return self.address[: -len(suffix)]
        if self.address.endswith(".images"):
            return f"{self.address[: -len('.images')]} (bulk upload)"
        return self.address

    def report(self, now: float, event: ProgressEvent) -> None:
        message = "" if self.address == "generation" else event.message  # its message only says "outputs"
        self.status = next((message[len(p):] for p in STATUS_PREFIXES if message.startswith(p)), message)
        if event.total:
            self.total = event.total
        if event.done is None:
            return
        if self.first is None:
            self.first = self.moved = (now, event.done)
        elif self.moved is not None and event.done > self.moved[1]:
            self.moved = (now, event.done)
        self.done = event.done

    def rate(self) -> float | None:
        """Units (steps, images, outputs, percent) per second, from the first report to the last move."""
        if self.first is None or self.moved is None:
            return None
        (t0, d0), (t1, d1) = self.first, self.moved
        if t1 <= t0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def remaining(self, now: float) -> float | None:
        rate = self.rate()
        if rate is None or not self.total or self.moved is None or self.moved[1] >= self.total:
            return None
        return max(0.0, (self.total - self.moved[1]) / rate - (now - self.moved[0]))

    def estimated_done(self, now: float) -> float | None:
        """Where the job probably is now: the last count, moved on at the rate seen so far, never
        past the next checkpoint (or the total) it has not reported yet."""
        if self.done is None:
            return None
        rate = self.rate()
        if rate is None or self.moved is None or not self.total:
            return float(self.done)
        ceiling = self.total
        if self.checkpoint_interval:
            ceiling = min(ceiling, self.moved[1] + self.checkpoint_interval)
        guess = self.moved[1] + rate * (now - self.moved[0])
        return max(float(self.done), min(guess, ceiling - 0.5))

    def progress_text(self) -> str:
        if self.done is None or not self.total:
            return ""
        if self.address.endswith(".training") and self.checkpoint_interval:
            reached = math.ceil(self.done / self.checkpoint_interval) if self.done < self.total else None
            count = math.ceil(self.total / self.checkpoint_interval)
            return f"checkpoint {count if reached is None else reached}/{count}"
        if self.address.endswith(".training"):
            return f"step {self.done}/{self.total}"
        if self.address.endswith(".images"):
            return f"{self.done}/{self.total} images"
        return f"{self.done}/{self.total} done"

    def left_text(self, now: float, *, compact: bool = False) -> str:
        """``about 20m left`` (``~20m left`` compact), ``less than a minute left`` (``<1m left``)."""
        left = self.remaining(now)
        if left is None:
            return ""
        if left < 60:
            return "<1m left" if compact else "less than a minute left"
        return f"{'~' if compact else 'about '}{format_duration(left)} left"

    def heartbeat(self, now: float) -> str:
        """``Still training model.lucy-lora [12m elapsed, InProgress, checkpoint 1/2, about 20m left]``."""
        parts = [f"{format_duration(now - self.started)} elapsed", self.status, self.progress_text(), self.left_text(now)]
        return f"Still {self.verb} {self.label} [{', '.join(p for p in parts if p)}]"


class JobTracker:
    """The long waits in flight, from the executor's events: a step that reports progress
    ("advance") between its begin and its end, and the generation outputs as a whole."""

    def __init__(self, clock: Clock = time.monotonic, checkpoint_intervals: Mapping[str, int] | None = None) -> None:
        self.clock = clock
        self.intervals = dict(checkpoint_intervals or {})
        self.begun: dict[str, float] = {}
        self.jobs: dict[str, Job] = {}
        self.started: float | None = None
        self.total = 0
        self.finished = 0

    def observe(self, event: ProgressEvent) -> Job | None:
        """Take in one event; returns the job it moved, if any."""
        now = self.clock()
        if event.kind == "plan":
            self.started, self.total, self.finished = now, event.total or 0, 0
        elif event.kind == "begin":
            self.begun[event.address] = now
        elif event.kind == "advance":
            job = self.jobs.get(event.address)
            if job is None:
                began = self.begun.get(event.address, now)
                job = Job(event.address, began, checkpoint_interval=self.intervals.get(event.address), said=began)
                self.jobs[event.address] = job
            job.report(now, event)
            if event.address == "generation" and job.total and job.done is not None and job.done >= job.total:
                return self.jobs.pop(event.address)
            return job
        elif event.kind in LINE_WORDS:
            self.finished += 1
            self.begun.pop(event.address, None)
            return self.jobs.pop(event.address, None)
        return None

    def in_flight(self) -> list[str]:
        return sorted(self.begun)


class PlainProgress:
    """One line per finished step on stderr, nothing redrawn; heartbeats during long waits;
    JSON lines with --log-format json."""

    LEVELS = {"fail": "error", "skip": "warning"}

    def __init__(self, *, log_format: str = "text", diagnostics: Diagnostics | None = None, heartbeat: float = 60.0,
                 clock: Clock = time.monotonic, checkpoint_intervals: Mapping[str, int] | None = None,
                 ticker: bool = True) -> None:
        self.diagnostics = diagnostics or Diagnostics(log_format=log_format)
        self.heartbeat = heartbeat
        self.tracker = JobTracker(clock, checkpoint_intervals)
        self.last_line = clock()
        self._lock = threading.Lock()
        self._ticker = _Ticker(self.tick, min(1.0, heartbeat / 4)) if ticker and heartbeat > 0 else None

    def __enter__(self) -> PlainProgress:
        if self._ticker is not None:
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.stop()

    def _line(self, text: str, **fields: Any) -> None:
        with self._lock:
            self.diagnostics.line(text, **fields)
            self.last_line = self.tracker.clock()

    def __call__(self, event: ProgressEvent) -> None:
        self.tracker.observe(event)
        if event.kind == "plan":
            self.last_line = self.tracker.clock()
            # The plan's text, summary line included, is already on stdout: JSON logs still get the event.
            if self.diagnostics.json:
                self._line(event.message, event="plan", total=event.total)
            return
        if event.kind not in LINE_WORDS:
            return
        self._line(f"  {LINE_WORDS[event.kind]:<8} {event.address}: {event.message}",
                   level=self.LEVELS.get(event.kind, "info"), event=event.kind, address=event.address,
                   message=event.message)

    def tick(self) -> None:
        """Write the heartbeats that are due (called about once a second, or by tests)."""
        if self.heartbeat <= 0 or self.tracker.started is None:
            return
        now = self.tracker.clock()
        for job in list(self.tracker.jobs.values()):
            if now - job.said >= self.heartbeat:
                job.said = now
                self._line(job.heartbeat(now), event="heartbeat", address=job.address, status=job.status or None,
                           done=job.done, total=job.total, elapsed=round(now - job.started, 1),
                           remaining=_rounded(job.remaining(now)))
        if now - self.last_line >= self.heartbeat:
            flying = self.tracker.in_flight()
            shown = ", ".join(flying[:3]) + (", ..." if len(flying) > 3 else "")
            text = (f"Still applying [{format_duration(now - self.tracker.started)} elapsed, "
                    f"{self.tracker.finished}/{self.tracker.total} steps done" + (f"; in flight: {shown}]" if flying else "]"))
            self._line(text, event="heartbeat", elapsed=round(now - self.tracker.started, 1), done=self.tracker.finished,
                       total=self.tracker.total, in_flight=flying or None)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class _Ticker:
    """Calls `tick` every `period` seconds on a daemon thread until stopped."""

    def __init__(self, tick: Callable[[], None], period: float) -> None:
        self._tick, self._period = tick, max(0.05, period)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bria-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._tick()
            except Exception:  # progress must never break a run
                pass


class BarProgress:
    """rich progress bars: the whole run, plus one bar per long job while it runs."""

    LABEL_WIDTH = 28
    BAR_WIDTH = 20
    COUNT_WIDTH = 9  # "1500/1500"
    STATUS_WIDTH = 40

    def __init__(self, console: Any = None, *, clock: Clock = time.monotonic,
                 checkpoint_intervals: Mapping[str, int] | None = None, ticker: bool = True) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        self.console = console or Console(stderr=True)
        # Fixed widths first, the elapsed time among them, so it is never cut; the status (and a
        # job's estimate) takes what is left of the line and is shortened with an ellipsis.
        self._status_column = Column(no_wrap=True, overflow="ellipsis")
        self._bar = BarColumn(bar_width=self.BAR_WIDTH)
        self._fit()
        self.progress = Progress(
            TextColumn("{task.description}", markup=False,
                       table_column=Column(max_width=self.LABEL_WIDTH, no_wrap=True, overflow="ellipsis")),
            self._bar,
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}", markup=False, table_column=self._status_column),
            console=self.console,
            transient=False,
        )
        self.tracker = JobTracker(clock, checkpoint_intervals)
        self.overall: Any = None
        self._ticker = _Ticker(self.tick, 0.5) if ticker else None

    @property
    def jobs(self) -> dict[str, Any]:
        """The rich task of each long job on screen, by address."""
        return {address: job.task for address, job in self.tracker.jobs.items() if job.task is not None}

    def __enter__(self) -> BarProgress:
        return self  # the bars start with the work, after any question about the plan

    def __exit__(self, *exc: object) -> None:
        if self._ticker is not None and self.overall is not None:
            self._ticker.stop()
        if self.overall is not None:
            self.progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        job = self.tracker.observe(event)
        if event.kind == "plan":
            self.progress.start()
            # a short label: the plan's summary is on screen already, and a long one would squeeze the times
            self.overall = self.progress.add_task("all steps", total=event.total or 0, status="")
            if self._ticker is not None:
                self._ticker.start()
            return
        if self.overall is None:
            return
        if event.kind == "advance" and job is not None and event.address in self.tracker.jobs:
            self._draw(job)
            return
        if job is not None and job.task is not None:
            self.progress.remove_task(job.task)
        if event.kind in LINE_WORDS:
            self.progress.advance(self.overall)
            self.progress.update(self.overall, status=_short(event.address, self.STATUS_WIDTH))
            if event.kind != "end":
                style = {"fail": "red", "skip": "yellow", "running": "cyan"}[event.kind]
                from rich.text import Text

                line = Text(LINE_WORDS[event.kind], style=style)
                line.append(f" {event.address}: {event.message}")
                self.console.print(line, highlight=False)

    def _draw(self, job: Job) -> None:
        if not job.total:
            return
        now = self.tracker.clock()
        checkpoints = job.progress_text() if job.address.endswith(".training") else ""  # others: the M/N column says it
        # what matters most first: a narrow terminal cuts the end
        status = ", ".join(p for p in (checkpoints, job.left_text(now, compact=True), job.status) if p)
        estimated = job.estimated_done(now) or 0.0
        if job.task is None:
            job.task = self.progress.add_task(_short(job.address, self.LABEL_WIDTH), total=job.total, status=status)
        self.progress.update(job.task, completed=estimated, total=job.total, status=status)

    def _fit(self) -> None:
        """Give the status column what the fixed columns leave of the terminal's width (now)."""
        self._bar.bar_width = self.BAR_WIDTH if self.console.width >= 110 else self.BAR_WIDTH // 2
        fixed = self.LABEL_WIDTH + self._bar.bar_width + self.COUNT_WIDTH + len("0:00:00") + 4  # + a space between columns
        self._status_column.max_width = max(8, self.console.width - fixed - 1)

    def tick(self) -> None:
        """Move each job's bar on to where it probably is now, and its estimate with it."""
        self._fit()
        for job in list(self.tracker.jobs.values()):
            if job.task is not None:
                self._draw(job)


def _short(address: str, width: int = 40) -> str:
    return address if len(address) <= width else "…" + address[-(width - 1):]


def progress_view(diagnostics: Diagnostics, *, heartbeat: float = 60.0,
                  checkpoint_intervals: Mapping[str, int] | None = None) -> PlainProgress | BarProgress:
    """Bars on a terminal that allows colour with text logs; plain lines (and heartbeats) everywhere else."""
    if diagnostics.stderr_colour():
        return BarProgress(checkpoint_intervals=checkpoint_intervals)
    return PlainProgress(diagnostics=diagnostics, heartbeat=heartbeat, checkpoint_intervals=checkpoint_intervals)


def checkpoint_intervals(desired: Any) -> dict[str, int]:
    """``{"model.lucy-lora.training": 100}``: each model's checkpoint interval, where the spec sets one."""
    return {f"model.{key}.training": model.training.checkpoint_interval
            for key, model in desired.models.items() if model.training.checkpoint_interval}
