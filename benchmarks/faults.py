"""The kill-anywhere and fault loops, long: many rounds of a whole apply (project to generated
images) against a served sandbox, each compared with one clean run. Prints one table.

    python benchmarks/faults.py                         25 fault rounds, 25 kill rounds
    python benchmarks/faults.py --fault-rounds 5 --kill-rounds 5 --seed 3
    python benchmarks/faults.py --fault-rounds 0 --from-first-request --max-kill-delay 1.5

Fault rounds: 20% of API requests answered 500, 20% of POST/PUT/DELETE carried out with their
answer lost, 10% answered 429, until an apply succeeds. Kill rounds: `bria-pipeline apply` as a
process, SIGKILLed after 0.1-5 s, then applied again. Billed work is what the sandbox accepted
(trainings and generations, /_sandbox/stats); "beyond clean" is what the rounds were billed above
the clean run's count per round, and the manifest's own account of it: requests whose answer was
lost (unknown effect) and outputs requested again after that or after a kill (paid again).
The same loops run, a few rounds each, in tests/apply/test_fault_loops.py.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "apply"))

from fault_loops import Round, clean_run, fault_round, kill_round, problems, template  # noqa: E402

from bria_pipeline.sandbox import ScaledClock, create_app, running  # noqa: E402


def row(label: str, rounds: list[Round], clean_billed: int, seconds: float) -> list[str]:
    billed = sum(r.billed for r in rounds)
    extra = billed - clean_billed * len(rounds)
    return [
        label,
        str(len(rounds)),
        (f"{sum(r.killed for r in rounds)} ({sum(bool(r.requests_at_kill) for r in rounds)} mid-run)"
         if label == "kill" else "-"),
        str(sum(r.applies for r in rounds)),
        str(sum(len(r.duplicates) for r in rounds)),
        str(sum(len(r.lost) for r in rounds)),
        str(billed),
        str(extra),
        str(sum(r.unknown_effect for r in rounds)),
        str(sum(r.paid_again for r in rounds)),
        f"{seconds:.0f}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault-rounds", type=int, default=25)
    parser.add_argument("--kill-rounds", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kill-delay", type=float, default=5.0)
    parser.add_argument("--from-first-request", action="store_true",
                        help="draw the kill instant after the run's first request instead of after its start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bria-faults-") as tmp:
        root = Path(tmp)
        app = create_app(root / "sandbox.sqlite", clock=ScaledClock(20.0), training_seconds=4.0)
        with running(app) as url, httpx.Client(timeout=30) as http:
            base = template(root / "template")
            clean = clean_run(base, root, url, http)
            started = time.monotonic()
            faults = [fault_round(n, base, root, url, http, clean, seed=args.seed) for n in range(args.fault_rounds)]
            fault_seconds = time.monotonic() - started
            rng = random.Random(args.seed)
            started = time.monotonic()
            kills = [kill_round(n, base, root, url, http, clean, rng=rng, max_delay=args.max_kill_delay,
                                from_first_request=args.from_first_request) for n in range(args.kill_rounds)]
            kill_seconds = time.monotonic() - started
        app.state.sandbox.close()
    header = ["loop", "rounds", "killed", "applies", "duplicates", "lost", "billed", "beyond clean",
              "unknown effect", "paid again", "s"]
    rows = [header, row("faults", faults, clean.billed, fault_seconds), row("kill", kills, clean.billed, kill_seconds)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"clean run: {clean.billed} billed (1 training, 2 images), {clean.seconds:.1f} s")
    for r in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths)))
    bad = problems(faults + kills)
    for line in bad:
        print(f"PROBLEM {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
