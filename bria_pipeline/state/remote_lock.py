"""The apply lock in a backend: one object, taken by an atomic create-if-absent, refreshed while
the run goes on, taken over only by `force-unlock`.

    with RemoteLock(backend, command="apply", spec="brands/lucy/spec.yaml", timeout=600):
        ...                            # the lock object names this run; a thread refreshes it

- Taking it: `write(lock.json, expect=ABSENT)` (S3 `If-None-Match: *`, GCS generation 0, an
  exclusive link locally). Exactly one of two racing runs gets it.
- It names its holder: user, host, pid, the command, the CI job URL when one is known, when it
  started, and a lock id (the run id) that `force-unlock SPEC LOCK_ID` needs.
- Refreshed every `refresh_seconds` with a compare-and-swap on its own version. A lock whose
  holder stopped refreshing for `stale_seconds` (killed, a lost runner) is *reported* as stale
  with its age; it is never taken over silently. `--lock-timeout` waits for it to be released.
- Except one case, as the local lock (released by the OS when its process dies): a holder on this
  very machine (same boot, same process namespace) whose process is gone. Its lock is replaced at
  once, by a compare-and-swap on the dead holder's version (`replaced` names it).
- A refresh that finds the object changed (forced away) marks the lock `lost`: the run's state
  writes then fail their own compare-and-swap rather than overwrite the new holder's.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from .backend import Backend
from .errors import LockHeldError, StateError
from .objects import ABSENT, ObjectConflict

REFRESH_ENV = "BRIA_PIPELINE_LOCK_REFRESH"  # seconds between refreshes (tests make it short)
DEFAULT_REFRESH = 30.0
STALE_FACTOR = 4  # not refreshed for 4 periods: stale


def refresh_seconds() -> float:
    try:
        return max(0.05, float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH)))
    except ValueError:
        return DEFAULT_REFRESH


def ci_job_url() -> str | None:
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("CI_JOB_URL", "BUILD_URL", "CIRCLE_BUILD_URL", "BUILDKITE_BUILD_URL"):
        if env.get(name):
            return env[name]
    return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _age(iso: str | None) -> float | None:
    try:
        return (_now() - datetime.fromisoformat(str(iso))).total_seconds()
    except (TypeError, ValueError):
        return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def machine_id() -> str | None:
    """This boot of this machine and this process namespace (Linux), so that a pid means the same
    process for two runs; None where it cannot be known (then the host name stands for it)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, Linux); None when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None  # a zombie is gone


def holder_is_gone(holder: dict[str, Any]) -> bool:
    """True only when `holder` ran on this machine and its process no longer runs (never on doubt)."""
    pid = holder.get("pid")
    if os.name == "nt" or not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    mine = machine_id()
    if holder.get("machine") is not None or mine is not None:
        if holder.get("machine") != mine:
            return False
    elif holder.get("host") != socket.gethostname():
        return False
    if mine is not None:
        started = process_start(pid)
        return started is None or (holder.get("pid_started") is not None and started != holder["pid_started"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def describe_holder(holder: dict[str, Any]) -> str:
    job = f", job {holder['ci_job_url']}" if holder.get("ci_job_url") else ""
    return (f"{holder.get('user', '?')} on {holder.get('host', '?')} (pid {holder.get('pid', '?')}{job}), "
            f"running `{holder.get('command', '?')}` since {holder.get('started_at', '?')}, lock id {holder.get('id', '?')}")


def lock_status(holder: dict[str, Any], refresh: float | None = None) -> tuple[bool, float | None]:
    """(stale, seconds since its last refresh)."""
    age = _age(holder.get("refreshed_at") or holder.get("started_at"))
    period = float(holder.get("refresh_seconds") or refresh or refresh_seconds())
    return (age is not None and age > STALE_FACTOR * period), age


class RemoteLock:
    def __init__(self, backend: Backend, *, command: str, spec: str, timeout: float = 0.0,
                 run_id: str | None = None) -> None:
        self.backend = backend
        self.command = command
        self.spec = spec
        self.timeout = max(0.0, float(timeout or 0.0))
        self.id = run_id or secrets.token_hex(6)
        self.refresh = refresh_seconds()
        self.version: str | None = None
        self.lost = False
        self.release_error: str | None = None
        self.replaced: dict[str, Any] | None = None  # the holder whose process was gone, replaced at once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        started = _iso(_now())
        self.info = {
            "id": self.id, "spec": spec, "command": command, "user": _user(), "host": socket.gethostname(),
            "pid": os.getpid(), "ci_job_url": ci_job_url(), "started_at": started, "refreshed_at": started,
            "refresh_seconds": self.refresh, "machine": machine_id(), "pid_started": process_start(os.getpid()),
        }

    def _body(self) -> bytes:
        return (json.dumps(self.info, indent=2, sort_keys=True) + "\n").encode("utf-8")

    def holder(self) -> dict[str, Any] | None:
        return self._read()[0]

    def _read(self) -> tuple[dict[str, Any] | None, str | None]:
        """The holder the lock object names, and the object's version."""
        blob = self.backend.store.read(self.backend.lock_key)
        if blob is None:
            return None, None
        try:
            data = json.loads(blob.data)
            return (data if isinstance(data, dict) else {"id": "?"}), blob.version
        except ValueError:
            return {"id": "?", "command": "unreadable lock object"}, blob.version

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        pause = 0.2
        while True:
            try:
                self.version = self.backend.store.write(self.backend.lock_key, self._body(), expect=ABSENT)
                break
            except ObjectConflict:
                holder, version = self._read()
                if holder is not None and version is not None and holder_is_gone(holder):
                    try:  # its process is gone: replace it, unless someone else changed it meanwhile
                        self.version = self.backend.store.write(self.backend.lock_key, self._body(), expect=version)
                        self.replaced = holder
                        break
                    except ObjectConflict:
                        continue
                if holder is None:  # released between our write and our read: try again
                    if time.monotonic() > deadline + 10:
                        raise StateError(f"the lock {self.backend.where('lock.json')} keeps appearing and vanishing",
                                         hint="another run is taking and releasing it: try again in a moment")
                    time.sleep(0.05)
                    continue
                stale, age = lock_status(holder)
                if stale:
                    raise self._held(holder, stale=True, age=age)
                if time.monotonic() >= deadline:
                    raise self._held(holder, stale=False, age=age)
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 1.5, 2.0)
        self._thread = threading.Thread(target=self._keep_fresh, name="bria-lock-refresh", daemon=True)
        self._thread.start()

    def _held(self, holder: dict[str, Any], *, stale: bool, age: float | None) -> LockHeldError:
        where = self.backend.where("lock.json")
        if stale:
            return LockHeldError(
                f"the state of {self.spec} is locked by a run that stopped refreshing its lock "
                f"{_duration(age or 0)} ago (stale): {describe_holder(holder)}",
                holder=holder,
                hint=(f"if that run is gone (killed, a lost runner), release it with: bria-pipeline force-unlock "
                      f"{self.spec} {holder.get('id', '?')}   (the lock is {where})"),
            )
        waited = f" (waited {self.timeout:g} s)" if self.timeout else ""
        return LockHeldError(
            f"another run holds the state of {self.spec}: {describe_holder(holder)}{waited}",
            holder=holder,
            hint="wait for it to finish, or pass --lock-timeout DURATION to wait for it",
        )

    def _keep_fresh(self) -> None:
        while not self._stop.wait(self.refresh):
            self.info["refreshed_at"] = _iso(_now())
            try:
                self.version = self.backend.store.write(self.backend.lock_key, self._body(), expect=self.version)
            except ObjectConflict:
                self.lost = True
                return
            except StateError:
                continue  # the backend did not answer: try again next period

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)  # a refresh caught mid-write fails its own compare-and-swap
        if self.lost:
            return
        holder = self.holder()
        if holder is not None and holder.get("id") == self.id:
            self.backend.store.delete(self.backend.lock_key)

    def __enter__(self) -> RemoteLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.release()
        except StateError as failed:  # the backend went away: say so, never hide the run's own outcome
            self.release_error = failed.message


def force_unlock(backend: Backend, spec: str, lock_id: str) -> dict[str, Any]:
    """Delete the lock object if it carries `lock_id`; returns the holder it named."""
    probe = RemoteLock(backend, command="force-unlock", spec=spec)
    holder = probe.holder()
    if holder is None:
        raise StateError(f"the state of {spec} is not locked (no {backend.where('lock.json')})")
    if str(holder.get("id")) != lock_id:
        raise StateError(
            f"the lock of {spec} has id {holder.get('id')}, not {lock_id}: {describe_holder(holder)}",
            hint="copy the lock id from the error that reported the lock; nothing was released",
        )
    backend.store.delete(backend.lock_key)
    return holder
