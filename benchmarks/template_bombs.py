"""Template bombs: what validating a hostile spec costs, in time and memory, each in a child process.

    python benchmarks/template_bombs.py                          # this tree
    python benchmarks/template_bombs.py --baseline ../main       # and another checkout, side by side
    python benchmarks/template_bombs.py --cap-mb 4096 --timeout 30

Every row writes a spec whose project description is the bomb, validates it with `check_spec` in a
child process of its own (address space capped at --cap-mb, killed after --timeout seconds) and
reports how it ended, the wall time and the child's peak resident memory (the interpreter and its
imports included, about 33 MB). Target: every bomb refused with an error, in under 2 s and 200 MB.
The last row is the price of the bounds for templates that only fill in values: one prompt
rendered 20,000 times, as the largest matrix is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "spec"))

from bomb_catalogue import BOMBS, spec_text  # noqa: E402  (the catalogue the tests use)

def child(spec: str) -> None:
    from bria_pipeline.spec import check_spec

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    try:
        check = check_spec(spec)
        errors = [p.render() for p in check.errors]
        outcome = "refused" if errors else "accepted"
        if errors and "MemoryError" in errors[0]:
            outcome = "MemoryError"
        detail = errors[0].splitlines()[0] if errors else ""
    except MemoryError:
        outcome, detail = "MemoryError", ""
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "detail": detail, "wall": wall, "peak_mb": peak, "baseline_mb": baseline}))


LEGIT = "{{ character }} at the {{ place|upper }}, {{ tags|join(', ') }}, take {{ '%03d' % n }}"


def child_render(count: int) -> None:
    """The cost of templates that only fill in values: one prompt rendered `count` times, as a
    matrix of `count` combinations is, with a 50-item list variable joined each time."""
    from bria_pipeline.spec.document import Document
    from bria_pipeline.spec.templates import Renderer

    doc = Document(file="spec.yaml", path=Path("spec.yaml"))
    renderer = Renderer(doc, {"character": "Lucy", "tags": [f"tag number {i}" for i in range(50)]})
    started = time.perf_counter()
    for i in range(count):
        renderer.render(("generate", "images", 0, "prompt"), LEGIT, {"place": f"place {i}", "n": i})
    wall = time.perf_counter() - started
    outcome = "refused" if renderer.problems else "rendered"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "detail": "", "wall": wall, "peak_mb": peak}))


def measure(tree: Path, spec: Path, cap_mb: int, timeout: float) -> dict:
    def limit() -> None:
        cap = cap_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    child_args = ["--child-render", spec.name] if spec.parent == Path("render") else ["--child", str(spec)]
    try:
        done = subprocess.run([sys.executable, str(HERE / "template_bombs.py"), *child_args], env=env,
                              capture_output=True, text=True, timeout=timeout, preexec_fn=limit, cwd=tree)
    except subprocess.TimeoutExpired:
        return {"outcome": f"killed after {timeout:.0f} s", "wall": time.perf_counter() - started, "peak_mb": None}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"outcome": f"crashed: {tail[:60]}", "wall": time.perf_counter() - started, "peak_mb": None}
    return json.loads(lines[-1])


def cell(result: dict) -> str:
    peak = f"{result['peak_mb']:.0f} MB" if result.get("peak_mb") else "-"
    return f"{result['outcome']} | {result['wall']:.2f} s | {peak}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-render", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side (e.g. ../main)")
    parser.add_argument("--cap-mb", type=int, default=4096, help="address-space cap of each child (default 4096)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a child is killed (default 30)")
    parser.add_argument("--rows", help="comma-separated substrings of row names to run")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.child_render:
        child_render(args.child_render)
        return
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    header = "| bomb | " + " | ".join(f"{name}: outcome | wall | peak RSS" for name, _ in trees) + " |"
    print(header)
    print("|" + "---|" * (1 + 3 * len(trees)))
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (bomb, _)) in enumerate(BOMBS.items()):
            if args.rows and not any(part in name for part in args.rows.split(",")):
                continue
            spec = Path(tmp) / f"bomb{i}" / "spec.yaml"
            spec.parent.mkdir()
            spec.write_text(spec_text(bomb))
            cells = [cell(measure(tree, spec, args.cap_mb, args.timeout)) for _, tree in trees]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if not args.rows or "legit" in args.rows:
        cells = [cell(measure(tree, Path("render") / "20000", args.cap_mb, args.timeout)) for _, tree in trees]
        print("| legit: one prompt rendered 20,000 times (a matrix), a 50-item list joined | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
