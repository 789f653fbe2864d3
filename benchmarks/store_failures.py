"""How long a run takes to fail on a store that hangs, and to go on after a run of this machine
died holding the backend lock. Prints one table.

    python benchmarks/store_failures.py                  # the checkout's bria_pipeline
    PYTHONPATH=/path/to/other/checkout python benchmarks/store_failures.py --code /path/to/other/checkout

Every row runs `bria-pipeline` in a child process against a sandbox served on 127.0.0.1 and an
S3 backend (moto's server on 127.0.0.1). "store hangs": the backend's endpoint is a listener that
accepts connections and never answers. "dead holder": a child takes the backend lock and exits
without releasing it (as a killed run does); then `apply --lock-timeout 10m` is timed until it
ends. Each wall time is bounded (`--limit`, default 400 s): a row that reaches it says so.

Closing note (2 shared cores; before: main at 33a7076, after: this change; wall seconds, each
including the child's ~2 s start):

    case                                        before   after
    plan, store hangs, no --timeout              66.6     31.0   (default bound 30 s per request)
    plan, store hangs, --timeout 5s              63.8      5.9   (--timeout did not reach the backend)
    apply, store hangs, --timeout 5s             66.5      6.0
    apply, store hangs mid-run, --timeout 5s    181.0      5.3   (from the hang to the run's exit)
    apply after a dead holder of this machine   121.3      3.3   (before: then refused as stale,
                                                                  force-unlock needed; reference 2.8)
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TAKE_AND_DIE = """
import os, sys
from pathlib import Path
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.remote_lock import RemoteLock
RemoteLock(Backend.for_spec(Path(sys.argv[1]), sys.argv[2]), command="apply", spec=sys.argv[1]).acquire()
os._exit(0)
"""


def silent_listener() -> tuple[int, list[socket.socket]]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1], held


def timed(args: list[str], env: dict[str, str], cwd: Path, limit: float) -> tuple[float, str]:
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "bria_pipeline", *args], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return time.monotonic() - started, f"still running after {limit:g} s"
    last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or [""])
    error = next((line for line in last if line.startswith("error")), last[-1])
    return time.monotonic() - started, f"exit {done.returncode}: {error[:90]}"


def hang_mid_run(spec: Path, api: str, moto_port: int, base: dict[str, str], limit: float) -> tuple[float, str]:
    """An apply through a relay to the S3 server; once it has pushed, the relay stops answering:
    the time from then to the run's exit."""
    sys.path.insert(0, str(ROOT / "tests" / "backend"))
    from stores import FrontDoor  # the tests' relay: pass, hang, down

    door = FrontDoor(moto_port)
    env = {**base, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{door.port}", "BRIA_PIPELINE_LOCK_REFRESH": "0.2"}
    run = subprocess.Popen([sys.executable, "-m", "bria_pipeline", "--api-url", api, "apply", str(spec), "--auto-approve",
                            "--backend", "s3://bench/mid", "--timeout", "5s"], env=env, cwd=spec.parent,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = spec.parent / "outputs"
    deadline = time.monotonic() + limit
    try:
        while run.poll() is None and not any(outputs.rglob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.02)  # the first images are made: the run has taken its lock and pushed its state
        door.hang()
        hung = time.monotonic()
        try:
            out, err = run.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            return time.monotonic() - hung, f"still running after {limit:g} s"
        wall = time.monotonic() - hung
        error = next((line for line in (err + out).splitlines() if "did not answer" in line or "error" in line), "")
        return wall, f"exit {run.returncode}: {error.strip()[:90]}"
    finally:
        run.kill()
        door.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose bria_pipeline runs")
    parser.add_argument("--limit", type=float, default=400.0, help="seconds a row may take at most")
    opts = parser.parse_args()
    sys.path.insert(0, str(opts.code))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    from moto.server import ThreadedMotoServer

    from bria_pipeline.sandbox import create_app, running

    work = Path(tempfile.mkdtemp(prefix="bria-store-failures-"))
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    moto_port = moto.get_host_and_port()[1]
    s3 = f"http://127.0.0.1:{moto_port}"
    import httpx

    httpx.put(f"{s3}/bench", timeout=10).raise_for_status()
    hang_port, _held = silent_listener()
    base = {**os.environ, "PYTHONPATH": str(opts.code), "NO_COLOR": "1", "BRIA_API_TOKEN": "bench-token",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true", "AWS_EC2_METADATA_DISABLED": "true"}
    hanging = {**base, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{hang_port}"}
    healthy = {**base, "AWS_ENDPOINT_URL": s3}
    rows: list[tuple[str, float, str]] = []
    app = create_app(work / "sandbox.sqlite", training_seconds=0.2)
    try:
        with running(app) as api:
            def lucy(name: str) -> Path:
                where = work / name / "lucy"
                shutil.copytree(ROOT / "examples" / "lucy", where,
                                ignore=shutil.ignore_patterns(".bria", "outputs", "*.lock.yaml"))
                return where / "spec.yaml"

            spec = lucy("hang")
            cases = [("plan, store hangs, no --timeout", ["plan", str(spec)]),
                     ("plan, store hangs, --timeout 5s", ["plan", str(spec), "--timeout", "5s"]),
                     ("apply, store hangs, --timeout 5s", ["apply", str(spec), "--auto-approve", "--timeout", "5s"])]
            for name, args in cases:
                wall, outcome = timed(["--api-url", api, *args, "--backend", "s3://bench/hang"], hanging, spec.parent,
                                      opts.limit)
                rows.append((name, wall, outcome))

            spec = lucy("mid-run")
            rows.append(("apply, store hangs mid-run, --timeout 5s", *hang_mid_run(spec, api, moto_port, base, opts.limit)))

            spec = lucy("dead-holder")
            subprocess.run([sys.executable, "-c", TAKE_AND_DIE, str(spec), "s3://bench/dead"], env=healthy, check=True,
                           timeout=60)
            wall, outcome = timed(["--api-url", api, "apply", str(spec), "--auto-approve", "--backend", "s3://bench/dead",
                                   "--lock-timeout", "10m"], healthy, spec.parent, opts.limit)
            rows.append(("apply after a dead holder of this machine", wall, outcome))
            spec = lucy("no-holder")
            wall, outcome = timed(["--api-url", api, "apply", str(spec), "--auto-approve", "--backend", "s3://bench/free"],
                                  healthy, spec.parent, opts.limit)
            rows.append(("apply, no lock held (reference)", wall, outcome))
    finally:
        app.state.sandbox.close()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"code: {opts.code}")
    print(f"| {'case':<45} | {'wall s':>7} | outcome")
    print(f"|{'-' * 47}|{'-' * 9}|{'-' * 40}")
    for name, wall, outcome in rows:
        print(f"| {name:<45} | {wall:7.1f} | {outcome}")


if __name__ == "__main__":
    main()
