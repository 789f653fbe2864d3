"""What a first apply with a backend costs per output, and what a no-op costs at 10,000 outputs.

    mkdir /tmp/before && git archive main | tar -x -C /tmp/before       # the code before the change
    python benchmarks/state_commit.py --baseline /tmp/before            # before and after, one run
    python benchmarks/state_commit.py                                    # this checkout only
    python benchmarks/state_commit.py --sizes 1000,3000 --noop 10000

A sandbox is served on 127.0.0.1 (fast emulated jobs); the backend is a ``file://`` folder. Each
apply runs in a child process with PYTHONPATH set to the checkout measured, so "before" (the
baseline checkout, e.g. an export of main as above) and "after" (this one) run
against the same sandbox, on the same machine, in the same run.

Columns:

- runner CPU per output: the apply's process CPU time (user + system, every thread) divided by the
  outputs; the 3,000 run should stay within 1.15x the 1,000 run's;
- state bytes per output: bytes the apply wrote to the backend that are not an output's own file
  (state, manifest, segments, the root, the lock) divided by the outputs (target: under 4 KB);
- thumbs+gallery bytes per output: thumbnails and index.html, shown apart;
- no-op plan / apply wall: from a fresh checkout (no .bria/, no outputs) of a spec whose N
  outputs are all in the backend; set up by applying without a backend, then `state push`.

Measured (2 shared cores; before: main at 33a7076, the two-object layout; after: root.json and
segments), one run:

    First apply against a served sandbox, file:// backend

    | code | outputs | runner CPU (s) | CPU per output (ms) | vs smallest | state bytes per output | thumbs+gallery bytes per output | backend writes | wall (s) |
    |---|---|---|---|---|---|---|---|---|
    | before | 1,000 | 19.0 | 18.95 | 1.00x | 14,639 | 9,482 | 2,020 | 28.9 |
    | before | 3,000 | 63.3 | 21.10 | 1.11x | 26,913 | 9,464 | 6,038 | 78.3 |
    | after | 1,000 | 15.1 | 15.10 | 1.00x | 1,265 | 9,662 | 2,268 | 18.2 |
    | after | 3,000 | 45.2 | 15.06 | 1.00x | 1,472 | 9,664 | 6,984 | 78.4 |


    No-op from a fresh checkout at 10,000 outputs (after `state push`)

    | code | state push (s) | no-op plan wall (s) | no-op apply wall (s) |
    |---|---|---|---|
    | before | 19.7 | 1.0 | 3.7 |
    | after | 15.1 | 0.8 | 3.3 |
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bria_pipeline.sandbox import create_app, running  # noqa: E402
from bria_pipeline.sandbox.context import Timings  # noqa: E402
from workload import write_spec  # noqa: E402

TOKEN = "bench-state-commit"

CHILD = r"""
import json, sys, time
from bria_pipeline.state import objects_local
counted = {"outputs": 0, "thumbs": 0, "state": 0, "writes": 0}
_write = objects_local.LocalObjectStore.write
def write(self, key, data, *, expect=None):
    counted["writes"] += 1
    part = key.split("/outputs/", 1)
    if len(part) == 2 and (part[1].startswith(".thumbs/") or part[1] == "index.html"):
        counted["thumbs"] += len(data)
    elif len(part) == 2:
        counted["outputs"] += len(data)
    else:
        counted["state"] += len(data)
    return _write(self, key, data, expect=expect)
objects_local.LocalObjectStore.write = write
from bria_pipeline.pipeline import Pipeline
what, spec, api, backend = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] or None
p = Pipeline(spec, api_url=api, token=sys.argv[5], backend=backend, concurrency=8 if what == "setup" else 16)
p.desired
cpu, wall = time.process_time(), time.perf_counter()
if what == "plan":
    r = p.plan()
    out = {"changes": len(r.changes)}
elif what == "push":
    out = {"message": p.state_push()}
elif what == "setup":  # the no-op case's outputs, made once: a request lost under load is made again
    for attempt in range(3):
        r = p.apply(auto_approve=True)
        if r.ok:
            break
    assert r.ok, [s for s in r.steps if s.status != "done"][:5]
    out = {}
else:
    r = p.apply(auto_approve=True)
    assert r.ok, [s for s in r.steps if s.status != "done"][:5]
    out = {"mutating": r.requests["mutating"]}
out.update(cpu=time.process_time() - cpu, wall=time.perf_counter() - wall, **counted)
print(json.dumps(out))
"""


def run_child(code: Path, what: str, spec: Path, url: str, backend: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "NO_COLOR": "1"}
    env.pop("BRIA_PIPELINE_BACKEND", None)
    env.pop("CI", None)
    out = subprocess.run([sys.executable, "-c", CHILD, what, str(spec), url, backend or "", TOKEN],
                         capture_output=True, text=True, env=env, timeout=7200, cwd=spec.parent)
    if out.returncode != 0:
        raise SystemExit(f"{what} of {spec} with {code} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh(template: Path, where: Path) -> Path:
    """The spec folder without .bria/ and outputs, at the same relative place (the same backend key)."""
    target = where / template.parent.name
    shutil.copytree(template.parent, target, ignore=shutil.ignore_patterns(".bria", "outputs"))
    return target / template.name


def first_apply(code: Path, label: str, n: int, work: Path, url: str) -> dict:
    spec = write_spec(work / f"{label}-{n}" / "spec", basic=5, seeds=n // 100, project=f"bench-{label}-{n}")
    backend = (work / f"{label}-{n}-backend").as_uri()
    m = run_child(code, "apply", spec, url, backend)
    m["n"] = n
    return m


def noop(codes: dict[str, Path], n: int, work: Path, url: str) -> dict[str, dict]:
    """Apply once without a backend (the same outputs for every checkout), then per checkout:
    state push into its own backend, and a no-op plan and apply from a fresh checkout."""
    template = write_spec(work / f"noop-{n}" / "spec", basic=5, seeds=n // 100, project=f"bench-noop-{n}")
    setup = run_child(next(iter(codes.values())), "setup", template, url, None)
    print(f"  setup: {n:,} outputs applied without a backend in {setup['wall']:.0f} s", file=sys.stderr)
    out = {}
    for label, code in codes.items():
        local = work / f"noop-{n}-{label}"
        shutil.copytree(template.parent.parent, local)
        spec = local / template.parent.name / template.name
        backend = (work / f"noop-{n}-{label}-backend").as_uri()
        pushed = run_child(code, "push", spec, url, backend)
        checkout = fresh(spec, work / f"noop-{n}-{label}-fresh")
        plan = run_child(code, "plan", checkout, url, backend)
        applied = run_child(code, "apply", checkout, url, backend)
        assert plan["changes"] == 0 and applied["mutating"] == 0, (plan, applied)
        out[label] = {"push": pushed["wall"], "plan": plan["wall"], "apply": applied["wall"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before the change (e.g. main)")
    parser.add_argument("--sizes", default="1000,3000", help="outputs of the first applies (default 1000,3000)")
    parser.add_argument("--noop", type=int, default=10000, help="outputs of the no-op case (0: skip it)")
    args = parser.parse_args()
    codes = {"before": args.baseline.resolve()} if args.baseline else {}
    codes["after"] = ROOT
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="bria-bench-commit-"))
    app = create_app(work / "sandbox.sqlite", training_seconds=0.2)
    app.state.sandbox.timings = Timings(training_seconds=0.2, generation_seconds=0.01, video_seconds=0.02,
                                        caption_min_seconds=0.01)
    started = time.perf_counter()
    rows, noops = [], {}
    try:
        with running(app) as url:
            for label, code in codes.items():
                for n in sizes:
                    m = first_apply(code, label, n, work, url)
                    print(f"  {label} {n:,}: {m['cpu']:.1f} s CPU, {m['wall']:.1f} s wall", file=sys.stderr)
                    rows.append((label, m))
            first_applies(codes, rows)
            if args.noop:
                noops = noop(codes, args.noop, work, url)
    finally:
        app.state.sandbox.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nwhole run {time.perf_counter() - started:.0f} s")
    if noops:
        print(f"\nNo-op from a fresh checkout at {args.noop:,} outputs (after `state push`)\n")
        print("| code | state push (s) | no-op plan wall (s) | no-op apply wall (s) |")
        print("|---|---|---|---|")
        for label, m in noops.items():
            print(f"| {label} | {m['push']:.1f} | {m['plan']:.1f} | {m['apply']:.1f} |")


def first_applies(codes: dict[str, Path], rows: list) -> None:
    print("First apply against a served sandbox, file:// backend\n")
    print("| code | outputs | runner CPU (s) | CPU per output (ms) | vs smallest | state bytes per output | "
          "thumbs+gallery bytes per output | backend writes | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label in codes:
        mine = [m for lab, m in rows if lab == label]
        base = mine[0]["cpu"] / mine[0]["n"] if mine else 1.0
        for m in mine:
            per = m["cpu"] / m["n"]
            print(f"| {label} | {m['n']:,} | {m['cpu']:.1f} | {per * 1000:.2f} | {per / base:.2f}x | "
                  f"{m['state'] / m['n']:,.0f} | {m['thumbs'] / m['n']:,.0f} | {m['writes']:,} | {m['wall']:.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
