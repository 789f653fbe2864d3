"""Start-up time of the command line, as ratios to importing the declared stack.

    python benchmarks/startup.py                    # this tree
    python benchmarks/startup.py --compare ../main  # also another checkout, same run, same machine

Each row is the median wall time of `--runs` child processes (after one warm-up round):

- stack:    python -c 'import yaml, jsonschema, jinja2, click, httpx' (the declared stack)
- --help:   python -m bria_pipeline --help                  target <= 1.2 x stack
- validate: python -m bria_pipeline validate <the example>  target <= 1.5 x stack (warm image cache)

The example is copied to a temporary directory first, so the image facts cache it writes stays
out of the repository. Prints a table; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = "import yaml, jsonschema, jinja2, click, httpx"
TARGETS = {"--help": 1.2, "validate (warm)": 1.5}


def measure(tree: Path, spec: Path, runs: int) -> dict[str, float]:
    """Median wall seconds of each case over `runs` rounds, the cases taking turns within a round
    (so a busy machine slows them alike), after one warm-up round (file cache, .pyc, image facts).
    The children run in `tree`, so `python -m` imports that tree's package."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cli = [sys.executable, "-m", "bria_pipeline"]
    cases = {
        "stack": [sys.executable, "-c", STACK],
        "--help": cli + ["--help"],
        "validate (warm)": cli + ["validate", str(spec)],
    }
    times: dict[str, list[float]] = {case: [] for case in cases}
    for round_ in range(runs + 1):
        for case, command in cases.items():
            started = time.perf_counter()
            subprocess.run(command, env=env, cwd=tree, capture_output=True, check=True)
            if round_:
                times[case].append(time.perf_counter() - started)
    return {case: statistics.median(values) for case, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--compare", type=Path, metavar="TREE", help="another source tree to measure in the same run")
    args = parser.parse_args()
    trees = [("this tree", ROOT)] + ([("compare", args.compare.resolve())] if args.compare else [])
    with tempfile.TemporaryDirectory() as tmp:
        spec_dir = Path(tmp) / "lucy"
        shutil.copytree(ROOT / "examples" / "lucy", spec_dir, ignore=shutil.ignore_patterns(".bria", "outputs"))
        results = {name: measure(tree, spec_dir / "spec.yaml", args.runs) for name, tree in trees}
    print(f"{'tree':<10} {'case':<16} {'median s':>9} {'x stack':>8} {'target':>7}  ok")
    missed = False
    for name, times in results.items():
        stack = times["stack"]
        for case, seconds in times.items():
            ratio = seconds / stack
            target = TARGETS.get(case)
            ok = "" if target is None else ("yes" if ratio <= target else "NO")
            missed |= name == "this tree" and ok == "NO"
            shown = "" if target is None else f"<= {target}"
            print(f"{name:<10} {case:<16} {seconds:>9.3f} {ratio:>8.2f} {shown:>7}  {ok}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
