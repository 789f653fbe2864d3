"""bria-pipeline benchmarks: what a run costs in requests, time and memory. Prints one table.

    python benchmarks/run.py                     every row (a few minutes on 2 cores)
    python benchmarks/run.py --rows rss,paced    a subset: noop, apply, paced, rss
    python benchmarks/run.py --quick             smaller counts, for a smoke run
    python benchmarks/run.py --workdir DIR       keep images, specs and the sandbox database in DIR

Every number in the table is measured in this run. The sandbox is served by `bria-pipeline
sandbox serve` on 127.0.0.1 in its own process (its CPU is not the runner's), with latency and
rate limits injected through its /_sandbox/faults route; requests are counted by its
/_sandbox/stats route. The runner runs in a child process (benchmarks/pipeline_child.py, through
the same Python API the CLI uses), so wall time, CPU time (getrusage of the children) and peak
RSS are the runner's own.
"""

from __future__ import annotations

import argparse
import json
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

from workload import PLACES, THINGS, write_images, write_spec  # noqa: E402

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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------- rows


def row_rss(table: Table, work: Path, sandbox: ServedSandbox, count: int, padding: int = 0) -> None:
    """Peak RSS of a child process that builds the advanced dataset's zip and stages it."""
    images = work / "rss" / f"padded-{padding}"
    # a prefix of its own: the no-op row's zip of the same images would already be staged
    write_images(images, count, prefix=f"rss{padding}", padding=padding)
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
    table.add(case, "PUTs: first / second stage()", f"{r['puts_first_stage']} / {r['puts_second_stage']}", "1 / 0",
              "same URL" if r["restage_same_url"] else "URL changed")


@dataclass
class Measured:
    """One child run of the runner: its JSON answer, CPU time, and the sandbox's request counts."""

    answer: dict
    cpu: float
    wall: float
    server: dict

    @property
    def requests(self) -> int:
        return int(self.server.get("total", 0))

    @property
    def status_429(self) -> int:
        return int(self.server.get("statuses", {}).get("429", 0))


def run_child(sandbox: ServedSandbox, command: str, spec: Path, *extra: str, timeout: float = 1800) -> Measured:
    """`plan` or `apply` through the Python API in a child process, against the served sandbox."""
    sandbox.reset_stats()
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(HERE / "pipeline_child.py"), command, str(spec), sandbox.url, *extra],
        capture_output=True, text=True, timeout=timeout,
    )
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{command} {spec} failed:\n{tail}")
    return Measured(json.loads(done.stdout), cpu, wall, sandbox.stats())


def facts_cache(spec: Path) -> Path:
    from bria_pipeline.spec.image_facts import CACHE_FILE, default_cache_dir

    return (default_cache_dir(spec.resolve().parent) or Path(".")) / CACHE_FILE


def row_noop(table: Table, work: Path, sandbox: ServedSandbox, basic: int, advanced: int, seeds: int) -> None:
    """Apply the big spec once, then plan it with a warm and a cold file-hash cache."""
    spec = write_spec(work / "noop", basic=basic, advanced=advanced, seeds=seeds, project="bench-noop")
    setup = run_child(sandbox, "apply", spec, "--concurrency", "8")
    outputs = len(THINGS) * len(PLACES) * seeds
    shape = f"{basic} basic + {advanced} advanced images, 3 models, {outputs} outputs"
    table.add("setup: first apply (" + shape + ")", "requests / wall (s)",
              f"{setup.requests} / {setup.wall:.1f}", "", setup.answer["summary"])
    if not setup.answer.get("ok"):
        table.add("no-op plan", "requests", "FAILED", "", "the setup apply did not finish cleanly")
        return
    for cache in ("warm", "cold"):
        if cache == "cold":
            facts_cache(spec).unlink(missing_ok=True)
        m = run_child(sandbox, "plan", spec)
        case = f"no-op plan, {cache} hash cache"
        table.add(case, "changes", m.answer["changes"], "0", m.answer["summary"][:60])
        ops = m.answer["requests"].get("operations", {})
        table.add(case, "requests", m.requests, "O(resources)", ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
        table.add(case, "wall / CPU time (s)", f"{m.wall:.2f} / {m.cpu:.2f}", "",
                  f"validate {m.answer['validate_seconds']:.2f} s, {m.answer['images']} images")


CONTRACT_MIN_EXTRA = 5  # create project, create dataset, generate schema, set schema, mark completed


def row_apply(table: Table, work: Path, sandbox: ServedSandbox, basic: int, latency_ms: float) -> None:
    """A fresh 200-image basic dataset at `latency_ms` per request, concurrency 1 and 16."""
    sandbox.faults(latency_ms=latency_ms)
    try:
        for concurrency in (1, 16):
            spec = write_spec(work / f"apply-c{concurrency}", basic=basic, models=False, project=f"bench-apply-c{concurrency}")
            run_child(sandbox, "plan", spec)  # validation and its hash cache, outside the measurement
            m = run_child(sandbox, "apply", spec, "--concurrency", str(concurrency))
            remote = m.answer["remote_seconds"]
            latency = latency_ms / 1000
            ideal = m.requests * latency / concurrency
            uploads = m.answer["requests"].get("operations", {}).get("upload_image", 0)
            # the steps around the uploads depend on each other: at best one latency each
            floor = (m.requests - uploads) * latency + -(-uploads // concurrency) * latency
            case = f"apply {basic}-image basic dataset, {latency_ms:g} ms, concurrency {concurrency}"
            table.add(case, "wall (s)", remote, "", f"ideal N x latency / concurrency = {ideal:.1f} s (N = {m.requests})")
            table.add(case, "wall / ideal", remote / ideal, "close to 1",
                      f"dependency floor {floor:.1f} s: wall / floor = {remote / floor:.2f}")
            table.add(case, "requests / contract minimum", f"{m.requests} / {basic + CONTRACT_MIN_EXTRA}", "",
                      f"{m.server.get('mutating', '?')} mutating; minimum = {basic} uploads + {CONTRACT_MIN_EXTRA}")
    finally:
        sandbox.faults()


def row_paced(table: Table, work: Path, sandbox: ServedSandbox, basic: int, limit: int) -> None:
    """The same apply under a sandbox limit of `limit` requests/minute, the runner pacing itself."""
    spec = write_spec(work / "paced", basic=basic, models=False, project="bench-paced")
    run_child(sandbox, "plan", spec)
    sandbox.faults(rate_limit_per_minute=limit)
    try:
        m = run_child(sandbox, "apply", spec, "--concurrency", "16", "--rate-limit", str(limit))
    finally:
        sandbox.faults()
    remote = m.answer["remote_seconds"]
    case = f"paced apply, {basic} images, sandbox limit {limit}/min"
    table.add(case, "429 answers", m.status_429, "0", f"client saw {m.answer['requests'].get('rate_limited', 0)} rate-limited")
    table.add(case, "achieved rate (req/min)", m.requests / remote * 60, f"<= {limit}", f"{m.requests} requests in {remote:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="noop,apply,paced,rss", help="comma-separated: noop, apply, paced, rss")
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke run)")
    parser.add_argument("--workdir", type=Path, help="keep inputs and the sandbox database here")
    parser.add_argument("--heavy-kb", type=int, default=60,
                        help="rss row: also zip images padded to this many KB each (default 60; 5,000 x 60 KB = 300 MB)")
    parser.add_argument("--latency-ms", type=float, default=100, help="apply row: latency per request (default 100)")
    parser.add_argument("--rate-limit", type=int, default=600, help="paced row: sandbox limit per minute (default 600)")
    args = parser.parse_args(argv)
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    unknown = rows - {"noop", "apply", "paced", "rss"}
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    basic, advanced, seeds = (40, 500, 1) if args.quick else (200, 5000, 10)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bria-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    table = Table()
    sandbox = ServedSandbox(work / "sandbox" / "sandbox.db")
    try:
        if "noop" in rows:
            row_noop(table, work, sandbox, basic, advanced, seeds)
        if "apply" in rows:
            row_apply(table, work, sandbox, basic, args.latency_ms)
        if "paced" in rows:
            row_paced(table, work, sandbox, basic, args.rate_limit)
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
