"""One apply per state at a time: an OS file lock plus a sidecar naming its holder.

The lock is `filelock`'s (flock on POSIX): the operating system releases it when the holder dies,
even by SIGKILL, so a crashed apply never blocks the next one. The sidecar `apply.lock.json`
says who holds it (pid, host, command, start time) so a second apply fails fast with a message a
person can act on; `--lock-timeout` makes it wait instead.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from ..atomic import write_atomic
from .errors import LockHeldError
from .clock import now_iso

LOCK_FILE = "apply.lock"
HOLDER_FILE = "apply.lock.json"


class StateLock:
    """`with StateLock(state_dir, timeout=0, command="apply"):` holds the state of one spec."""

    def __init__(self, state_dir: Path, *, timeout: float = 0.0, command: str = "apply", spec: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.timeout = max(0.0, float(timeout))
        self.command = command
        self.spec = spec
        self._lock = FileLock(str(self.state_dir / LOCK_FILE))

    @property
    def holder_path(self) -> Path:
        return self.state_dir / HOLDER_FILE

    def holder(self) -> dict[str, Any]:
        """Who holds the lock, as its holder file says (JSON; empty when unreadable)."""
        try:
            holder: dict[str, Any] = json.loads(self.holder_path.read_text(encoding="utf-8"))
            return holder
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self.timeout, poll_interval=0.05)
        except Timeout:
            holder = self.holder()
            who = (
                f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                f"running `{holder.get('command', '?')}` since {holder.get('started_at', '?')}"
            )
            waited = f" (waited {self.timeout:g} s)" if self.timeout else ""
            raise LockHeldError(
                f"another run holds the state of {self.spec or self.state_dir}: {who}{waited}",
                holder=holder,
                hint=(
                    "wait for it to finish, or pass --lock-timeout to wait; the lock is released "
                    "automatically when that process exits"
                ),
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started_at": now_iso(),
        }
        write_atomic(self.holder_path, (json.dumps(holder, indent=2) + "\n").encode("utf-8"))

    def release(self) -> None:
        try:
            self.holder_path.unlink()
        except FileNotFoundError:
            pass
        self._lock.release()

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
