"""bria-pipeline benchmarks: what a run costs in requests, time and memory. Prints one table.

    python benchmarks/run.py                     every row (a few minutes on 2 cores)
    python benchmarks/run.py --rows rss,paced    a subset: noop, apply, paced, rss
    python benchmarks/run.py --quick             smaller counts, for a smoke run
    python benchmarks/run.py --workdir DIR       keep images, specs and the sandbox database in DIR

Every number in the table is measured in this run. The sandbox is served by `bria-pipeline
sandbox serve` on 127.0.0.1 in its own process (its CPU is not the runner's), with latency and
rate limits injected through its /_sandbox/faults route; requests are counted by its
/_sandbox/stats route. The runner is the real CLI in a child process, so wall time, CPU time
(getrusage of the children) and peak RSS are the runner's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workload import write_images, write_spec  # noqa: E402

TOKEN = "bench-token"
CLI = [sys.executable, "-m", "bria_pipeline"]


# ---------------------------------------------------------------------------------------- table


@dataclass
class Row:
    case: str
    metric: str
    value: str
    target: str = ""
    note: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, case: str, metric: str, value: object, target: str = "", note: str = "") -> None:
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        self.rows.append(Row(case, metric, shown, target, note))
        print(f"  {case}: {metric} = {shown} {('(target ' + target + ')') if target else ''} {note}", file=sys.stderr)

    def render(self) -> str:
        head = Row("case", "metric", "value", "target", "note")
        rows = [head] + self.rows
        widths = [max(len(getattr(r, f)) for r in rows) for f in ("case", "metric", "value", "target", "note")]

        def line(r: Row) -> str:
            cells = (r.case, r.metric, r.value, r.target, r.note)
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(head), rule] + [line(r) for r in self.rows])


# -------------------------------------------------------------------------------------- sandbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedSandbox:
    """`bria-pipeline sandbox serve` in a child process, with its admin routes at hand."""

    def __init__(self, db: Path, *, training_seconds: float = 3.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        db.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(db.with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(
            CLI + ["sandbox", "serve", "--port", str(self.port), "--db", str(db), "--training-seconds", str(training_seconds)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get("/_sandbox/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not start; see {db.with_suffix('.log')}")
            time.sleep(0.1)

    def faults(self, **plan: object) -> None:
        self.http.post("/_sandbox/faults", json=plan).raise_for_status()

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/reset", json={}).raise_for_status()

    def stats(self) -> dict:
        return self.http.get("/_sandbox/stats").json()

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# ------------------------------------------------------------------------------------- the runner


@dataclass
class Run:
    returncode: int
    wall: float
    cpu: float
    stdout: str
    stderr: str


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(args: list[str], *, api_url: str, timeout: float = 900) -> Run:
    """Run the CLI against the served sandbox; wall and CPU time of that child alone."""
    env = {**os.environ, "BRIA_API_TOKEN": TOKEN, "NO_COLOR": "1"}
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(CLI + ["--api-url", api_url] + args, capture_output=True, text=True, env=env, timeout=timeout)
    return Run(done.returncode, time.perf_counter() - t0, children_cpu() - cpu0, done.stdout, done.stderr)


def cli_has(command: str) -> bool:
    done = subprocess.run(CLI + [command, "--help"], capture_output=True, text=True)
    return done.returncode == 0


# ----------------------------------------------------------------------------------------- rows


def row_rss(table: Table, work: Path, sandbox: ServedSandbox, count: int, padding: int = 0) -> None:
    """Peak RSS of a child process that builds the advanced dataset's zip and stages it."""
    images = work / "rss" / f"big-{padding}"
    write_images(images, count, prefix="big", padding=padding)
    zips = work / "rss" / "zips"
    shutil.rmtree(zips, ignore_errors=True)
    zips.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, str(HERE / "zip_rss.py"), str(images), str(zips), sandbox.url],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        table.add(f"zip {count} images", "peak RSS", "FAILED", "<= 150 MB", done.stderr.strip().splitlines()[-1][:120])
        return
    r = json.loads(done.stdout)
    case = f"build + stage zip, {r['images']} x {r['image_bytes'] / r['images'] / 1e3:.0f} KB images"
    table.add(case, "peak RSS (MB)", r["peak_rss_mb"], "<= 150", f"after imports {r['baseline_rss_mb']:.1f} MB")
    table.add(case, "zip size (MB)", r["zip_bytes"] / 1e6, "", f"images {r['image_bytes'] / 1e6:.1f} MB, stored")
    table.add(case, "build / stage time (s)", f"{r['build_seconds']:.2f} / {r['stage_seconds']:.2f}", "", "")
    table.add(case, "second stage uploads again", "no" if r["restage_same_url"] else "?", "no", "content-hash name found")


TODO_APPLY = "TODO: `bria-pipeline apply` is not in the tree yet, so no apply can be measured"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="noop,apply,paced,rss", help="comma-separated: noop, apply, paced, rss")
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke run)")
    parser.add_argument("--workdir", type=Path, help="keep inputs and the sandbox database here")
    parser.add_argument("--heavy-kb", type=int, default=60,
                        help="rss row: also zip images padded to this many KB each (default 60; 5,000 x 60 KB = 300 MB)")
    args = parser.parse_args(argv)
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    unknown = rows - {"noop", "apply", "paced", "rss"}
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    basic, advanced = (40, 500) if args.quick else (200, 5000)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bria-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    table = Table()
    sandbox = ServedSandbox(work / "sandbox" / "sandbox.db")
    try:
        if "rss" in rows:
            row_rss(table, work, sandbox, advanced)
            row_rss(table, work, sandbox, advanced, padding=args.heavy_kb * 1000)
    finally:
        sandbox.close()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
