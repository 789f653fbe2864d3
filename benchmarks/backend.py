"""What a no-op CI run costs from a fresh checkout, without a backend and with one.

    python benchmarks/backend.py            # examples/lucy and a spec with 1,000 outputs
    python benchmarks/backend.py --quick    # 100 outputs instead of 1,000

A CI runner starts from a fresh checkout: no .bria/, no outputs, the lock file as committed.
Each case first applies the spec once (with the backend: the setup), then measures one apply
from a fresh checkout:

- before: no backend (bria-pipeline's only behaviour until backends): the runner cannot know
  what earlier runs generated, and generates it again;
- after: with the backend (moto's S3 server on 127.0.0.1 when moto is installed, else a
  file:// folder).

API requests, mutating and billed requests are counted by the sandbox (served on 127.0.0.1);
backend requests by the store; every apply runs in a child process, so its wall time is its own.
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

TOKEN = "bench-backend"
BILLED = ("POST /v2/image/generate/tailored", "POST /v2/structured_prompt/generate/tailored",
          "POST /v2/video/generate/tailored/image-to-video", "POST /v1/tailored-gen/models/{model_id}/start_training")

CHILD = r"""
import json, sys, time
from bria_pipeline.pipeline import Pipeline
spec, api, backend = sys.argv[1], sys.argv[2], sys.argv[3] or None
p = Pipeline(spec, api_url=api, token=sys.argv[4], backend=backend, concurrency=16)
p.desired
t = time.perf_counter()
r = p.apply(auto_approve=True)
wall = time.perf_counter() - t
assert r.ok, [s for s in r.steps if s.status != "done"][:5]
print(json.dumps({"wall": wall, "api": r.requests["total"], "mutating": r.requests["mutating"], "backend": p.backend_requests}))
"""


def s3_backend() -> tuple[str, dict[str, str], object] | None:
    try:
        import obstore  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    httpx.put(f"{endpoint}/bench", timeout=10).raise_for_status()
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    return "s3://bench/state", env, server


def stats(url: str) -> dict:
    return httpx.get(f"{url}/_sandbox/stats", timeout=10).json()


def billed(before: dict, after: dict) -> int:
    return sum(after["routes"].get(k, 0) - before["routes"].get(k, 0) for k in BILLED)


def apply(spec: Path, url: str, backend: str | None, env: dict[str, str]) -> dict:
    before = stats(url)
    out = subprocess.run([sys.executable, "-c", CHILD, str(spec), url, backend or "", TOKEN], capture_output=True, text=True,
                         env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"apply of {spec} failed:\n{out.stderr[-3000:]}")
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    after = stats(url)
    measured["billed"] = billed(before, after)
    measured["sandbox_mutating"] = after["mutating"] - before["mutating"]
    return measured


def fresh(template: Path, where: Path) -> Path:
    """A fresh checkout: the spec folder without .bria/ and outputs (the lock file kept), at the
    same path inside its checkout (so the same backend key), like a CI runner's clone."""
    target = where / template.parent.name
    shutil.copytree(template.parent, target, ignore=shutil.ignore_patterns(".bria", "outputs"))
    return target / template.name


def case(name: str, make_spec, work: Path, url: str, backend: str, env: dict[str, str]) -> list[tuple]:
    slug = name.split("/")[-1].replace(",", "").replace(" ", "-")
    template = make_spec(work / f"{slug}-setup" / "spec")
    setup = apply(template, url, backend, env)
    before = apply(fresh(template, work / f"{slug}-before"), url, None, env)
    after = apply(fresh(template, work / f"{slug}-after"), url, backend, env)
    rows = []
    for label, m in (("before (no backend)", before), ("after (backend)", after)):
        rows.append((name, label, m["api"], m["mutating"], m["billed"], m["backend"], f"{m['wall']:.2f}"))
    print(f"  {name}: setup apply {setup['api']} API requests, {setup['billed']} billed, "
          f"{setup['backend']} backend requests, {setup['wall']:.1f} s", file=sys.stderr)
    return rows


def lucy(where: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "lucy", where, ignore=shutil.ignore_patterns(".bria", "outputs", "*.lock.yaml"))
    return where / "spec.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 outputs instead of 1,000")
    args = parser.parse_args()
    seeds = 1 if args.quick else 10
    work = Path(tempfile.mkdtemp(prefix="bria-bench-backend-"))
    s3 = s3_backend()
    if s3 is not None:
        backend, env, server = s3
        kind = "S3 (moto server on 127.0.0.1)"
    else:
        backend, env, server = (work / "backend").as_uri(), {}, None
        kind = "file:// (install moto[server] and obstore for S3)"
    app = create_app(work / "sandbox.sqlite", training_seconds=0.3)
    app.state.sandbox.timings = Timings(training_seconds=0.3, generation_seconds=0.02, video_seconds=0.05,
                                        caption_min_seconds=0.02)
    started = time.perf_counter()
    try:
        with running(app) as url:
            rows = case("examples/lucy", lucy, work, url, backend, env)
            outputs = 100 * seeds
            rows += case(f"{outputs:,} outputs", lambda w: write_spec(w, basic=5, seeds=seeds, project="bench-backend"),
                         work, url, backend, env)
    finally:
        app.state.sandbox.close()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"No-op CI run from a fresh checkout (lock file kept); backend: {kind}; "
          f"whole run {time.perf_counter() - started:.0f} s\n")
    print("| spec | run | API requests | mutating | billed | backend requests | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
    main()
