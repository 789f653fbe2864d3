"""The kill-anywhere and fault loops: a whole apply (project to generated images) against a served
sandbox, again and again under SIGKILLs or injected faults, compared with one clean run.

Used by tests/apply/test_fault_loops.py (a few seeded rounds) and by benchmarks/faults.py (many).
What each loop reports, per round and in all:

- converged: the remote and the outputs equal the clean run's (no duplicate project, dataset,
  image, model; no lost image or output) and a last plan is empty;
- billed: the billed work the sandbox accepted (trainings, generations), counted by the sandbox;
  beyond the clean run's, each extra one must be explained by the manifest: an answer lost after
  the request left (`unknown_effect`), or an output requested again after that (`paid_again`).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from apply_helpers import SpecDir, remote_snapshot

from bria_pipeline.api import RetryPolicy
from bria_pipeline.errors import BriaPipelineError
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.pipeline import Pipeline

QUICK_RETRY = RetryPolicy(max_attempts=6, max_elapsed=30.0, base_delay=0.01, max_delay=0.05)
FAULTS = {"error_rate": 0.2, "lose_response_rate": 0.2, "throttle_rate": 0.1, "throttle_retry_after": 0}


class QuickPipeline(Pipeline):
    """The real pipeline, retrying within milliseconds instead of seconds (the loops inject a
    fault into one request in five: real backoff would make each round take minutes)."""

    def client(self):  # noqa: ANN201
        client = super().client()
        client.session.retry = QUICK_RETRY
        return client


@dataclass
class Round:
    token: str
    kill_after: float | None = None  # seconds after the start, or after its first request (kill loop)
    killed: bool = False
    requests_at_kill: int | None = None  # requests the sandbox had seen from the run when it was killed
    applies: int = 0  # applies it took to converge
    billed: int = 0
    unknown_effect: int = 0
    paid_again: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def extra(self) -> int:
        return self.billed - self._clean_billed

    _clean_billed: int = 0


def template(root: Path) -> Path:
    """The spec every round copies: 6 images, a visual schema, captions, a model, 2 images."""
    spec = SpecDir(root)
    spec.write(images=6, steps=200, generate=True)
    return root


def copy_spec(template_dir: Path, where: Path) -> Path:
    shutil.copytree(template_dir, where, ignore=shutil.ignore_patterns(".bria", "*.lock.yaml", "outputs"))
    return where / "spec.yaml"


def billed(http: httpx.Client, url: str) -> int:
    return http.get(f"{url}/_sandbox/stats").json()["billed"]["total"]


def set_faults(http: httpx.Client, url: str, plan: dict[str, Any]) -> None:
    http.post(f"{url}/_sandbox/faults", json=plan).raise_for_status()


def outputs_of(spec: Path) -> dict[str, str]:
    manifest = Manifest.load(spec.parent / "outputs")
    return {r.name: r.status for r in manifest if r.status == "done" and (spec.parent / "outputs" / (r.file or "")).is_file()}


def money_of(spec: Path) -> dict[str, int]:
    return Manifest.load(spec.parent / "outputs").money()


def duplicates_in(snapshot: dict[str, Any]) -> list[str]:
    out = [f"project {n}" for n, c in Counter(snapshot["projects"]).items() if c > 1]
    out += [f"dataset {n}" for n, c in Counter(d["name"] for d in snapshot["datasets"]).items() if c > 1]
    out += [f"model {n}" for n, c in Counter(m["name"] for m in snapshot["models"]).items() if c > 1]
    for dataset in snapshot["datasets"]:
        names = Counter(image[0] for image in dataset["images"])
        out += [f"image {n} in {dataset['name']}" for n, c in names.items() if c > 1]
    return out


def lost_in(snapshot: dict[str, Any], clean: dict[str, Any], outputs: dict[str, str], clean_outputs: dict[str, str]) -> list[str]:
    lost = [f"output {name}" for name in clean_outputs if name not in outputs]
    if snapshot != clean:
        lost.append("remote differs from the clean run")
    return lost


def apply_until_ok(spec: Path, url: str, token: str, max_applies: int) -> int:
    """Apply until one succeeds (each failure is a fault the next apply picks up); returns how many."""
    for n in range(1, max_applies + 1):
        pipeline = QuickPipeline(spec, api_url=url, token=token)
        try:
            if pipeline.apply(auto_approve=True).ok:
                return n
        except BriaPipelineError:
            pass
        finally:
            pipeline.close()
    raise AssertionError(f"{spec}: no apply succeeded in {max_applies}")


def settle(spec: Path, url: str, token: str) -> None:
    """With the faults off, the next plan must be empty: the loop converged."""
    pipeline = Pipeline(spec, api_url=url, token=token)
    try:
        plan = pipeline.plan()
    finally:
        pipeline.close()
    if plan.has_changes:
        raise AssertionError(f"{spec}: not converged: {[(a.address, a.kind, a.reason) for a in plan.changes][:5]}")


@dataclass
class Clean:
    snapshot: dict[str, Any]
    outputs: dict[str, str]
    billed: int
    seconds: float


def clean_run(template_dir: Path, work: Path, url: str, http: httpx.Client) -> Clean:
    spec = copy_spec(template_dir, work / "clean")
    before = billed(http, url)
    started = time.monotonic()
    assert apply_until_ok(spec, url, "clean", 1) == 1
    seconds = time.monotonic() - started
    return Clean(remote_snapshot(url, "clean"), outputs_of(spec), billed(http, url) - before, seconds)


def _finish(round_: Round, spec: Path, url: str, http: httpx.Client, clean: Clean, billed_before: int) -> None:
    settle(spec, url, round_.token)
    snapshot = remote_snapshot(url, round_.token)
    outputs = outputs_of(spec)
    money = money_of(spec)
    round_.billed = billed(http, url) - billed_before
    round_._clean_billed = clean.billed
    round_.unknown_effect, round_.paid_again = money["unknown_effect"], money["paid_again"]
    round_.duplicates = duplicates_in(snapshot)
    round_.lost = lost_in(snapshot, clean.snapshot, outputs, clean.outputs)


def fault_round(n: int, template_dir: Path, work: Path, url: str, http: httpx.Client, clean: Clean, *,
                seed: int, max_applies: int = 8) -> Round:
    """One spec applied under 20% 5xx, 20% lost answers after commit and 10% 429 until an apply
    succeeds; then the faults go off and the result is compared with the clean run."""
    round_ = Round(token=f"faults-{seed}-{n}")
    spec = copy_spec(template_dir, work / f"faults-{n}")
    set_faults(http, url, {**FAULTS, "seed": seed * 1000 + n})
    before = billed(http, url)
    try:
        round_.applies = apply_until_ok(spec, url, round_.token, max_applies)
    except AssertionError as exc:
        round_.error = str(exc)
    finally:
        set_faults(http, url, {})
    if round_.error is None:
        _finish(round_, spec, url, http, clean, before)
    return round_


def requests_seen(http: httpx.Client, url: str) -> int:
    return http.get(f"{url}/_sandbox/stats").json()["total"]


def kill_round(n: int, template_dir: Path, work: Path, url: str, http: httpx.Client, clean: Clean, *,
               rng: random.Random, max_delay: float = 5.0, from_first_request: bool = False) -> Round:
    """`bria-pipeline apply` as a process, SIGKILLed 0.1-max_delay s (drawn by `rng`) after it
    started, or after its first request reached the sandbox (so the kill lands mid-run, not while
    Python starts); then applied again in process until it succeeds, and compared with the clean run."""
    round_ = Round(token=f"kill-{n}-{rng.random():.6f}", kill_after=round(rng.uniform(0.1, max_delay), 2))
    spec = copy_spec(template_dir, work / f"kill-{n}")
    before, seen = billed(http, url), requests_seen(http, url)
    env = {**os.environ, "BRIA_API_TOKEN": round_.token, "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bria_pipeline", "--api-url", url, "apply", str(spec), "--auto-approve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=spec.parent)
    deadline = time.monotonic() + 30
    while from_first_request and proc.poll() is None and requests_seen(http, url) == seen and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        proc.wait(timeout=round_.kill_after)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        round_.killed = True
        round_.requests_at_kill = requests_seen(http, url) - seen
    proc.wait(timeout=30)
    try:
        round_.applies = apply_until_ok(spec, url, round_.token, 3)
    except AssertionError as exc:
        round_.error = str(exc)
        return round_
    _finish(round_, spec, url, http, clean, before)
    return round_


def problems(rounds: list[Round]) -> list[str]:
    """What must never happen: duplicates, lost items, a round that did not converge, or billed work
    beyond the clean run's that the manifest does not own up to."""
    out = []
    for r in rounds:
        if r.error:
            out.append(f"{r.token}: {r.error}")
        out += [f"{r.token}: duplicate {d}" for d in r.duplicates]
        out += [f"{r.token}: lost {item}" for item in r.lost]
        if r.extra > r.unknown_effect + r.paid_again:
            out.append(f"{r.token}: {r.extra} billed beyond the clean run, only {r.unknown_effect} unknown-effect "
                       f"and {r.paid_again} paid-again in the manifest")
        if r.extra < 0:
            out.append(f"{r.token}: {r.billed} billed, fewer than the clean run's {r._clean_billed}")
    return out
