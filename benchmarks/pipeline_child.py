"""Child process of the benchmark: one `plan` or `apply` through the Python API, timed, as JSON.

    python benchmarks/pipeline_child.py plan|apply SPEC API_URL [--concurrency N] [--rate-limit N]

Run in its own process so the parent's getrusage(RUSAGE_CHILDREN) is this run's CPU time and
peak RSS. The request count comes from the client's own statistics (observing included).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from bria_pipeline.pipeline import Pipeline

TOKEN = "bench-token"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["plan", "apply"])
    parser.add_argument("spec")
    parser.add_argument("api_url")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    pipeline = Pipeline(args.spec, api_url=args.api_url, token=TOKEN, concurrency=args.concurrency,
                        rate_limit_per_minute=args.rate_limit)
    started = time.perf_counter()
    desired = pipeline.desired  # validation, with the file-facts cache
    validated = time.perf_counter()
    out: dict = {"validate_seconds": validated - started}
    if args.command == "plan":
        plan = pipeline.plan()
        out.update(changes=sum(1 for a in plan.actions if a.is_change), summary=plan.summary_line(),
                   requests=plan.request_stats)
    else:
        result = pipeline.apply(auto_approve=True, timeout=args.timeout)
        out.update(ok=result.ok, summary=result.summary(), requests=result.requests)
    out.update(
        seconds=time.perf_counter() - started,
        remote_seconds=time.perf_counter() - validated,
        images=sum(len(d.images) for d in desired.datasets.values()),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
