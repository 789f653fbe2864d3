"""One pipeline: when outputs arrive, how big the core is, how the layers import. Prints one table.

    python benchmarks/one_pipeline.py                       this tree only
    python benchmarks/one_pipeline.py --compare DIR         also DIR (another checkout, e.g. main), same run
    python benchmarks/one_pipeline.py --long-seconds 60     the long training's length (default 90)

(a) A spec with two models on one dataset, the long one training 10x the steps of the short one
    (the sandbox's training time grows with total_training_steps): the time from the start of
    `apply` until the first output of the short model exists on disk, as a fraction of the long
    training. Before generation steps were steps of the one plan this was above 1 (every output
    waited for every training).
(b) Lines in the core (bria_pipeline/ without sandbox/, every line of every .py file); the
    modules that decide an output's file name (those holding one of NAMING_PATTERNS, outside
    tests); imports that run back up the layers cli > pipeline > apply > plan > state > api.
(c) The example's (examples/lucy) first apply: requests and wall time.

The sandbox is always served from this tree (`bria-pipeline sandbox serve` on 127.0.0.1), so both
trees face the same emulated service; the pipeline runs in a child process with PYTHONPATH set to
the tree under test.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import ServedSandbox, Table  # noqa: E402

DEFAULT_STEPS = 750  # the sandbox's --training-seconds is the time of a training of this many steps
SHORT_STEPS, LONG_STEPS = 100, 1000

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from bria_pipeline.pipeline import Pipeline
    spec, url = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    result = Pipeline(spec, api_url=url, token="bench-token", concurrency=4).apply(auto_approve=True, timeout=1800)
    json.dump({"ok": result.ok, "summary": result.summary(), "seconds": time.perf_counter() - started,
               "requests": result.requests.get("total")}, sys.stdout)
    """
)

TWO_MODELS = """\
version: 1
project: {{name: one-pipeline-bench, ip_type: defined_character, ip_medium: illustration,
          ip_name: Lucy, ip_description: a girl with purple hair}}
datasets:
  lucy:
    images: [{{path: images/pose-*.png}}]
    visual_schema: {{samples: [images/pose-01.png, images/pose-03.png, images/pose-05.png, images/pose-07.png,
                               images/pose-09.png]}}
models:
  short:
    dataset: lucy
    training_mode: expert
    training: {{total_training_steps: {short}, checkpoint_interval: 100}}
  long:
    dataset: lucy
    training_mode: expert
    training: {{total_training_steps: {long}, checkpoint_interval: 100}}
generate:
  output_dir: outputs
  images:
    - {{name: short, model: short, prompt: "Lucy at the beach", seeds: [1, 2]}}
    - {{name: long, model: long, prompt: "Lucy in the city", seeds: [1, 2]}}
"""


def child(tree: Path, spec: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(spec), url], cwd=spec.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> dict:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("the apply failed:\n" + "\n".join(err.strip().splitlines()[-15:]))
    return json.loads(out)


def example_copy(work: Path, name: str) -> Path:
    folder = work / name
    shutil.copytree(ROOT / "examples" / "lucy", folder, ignore=shutil.ignore_patterns("outputs", ".bria", "*.lock.yaml"))
    return folder / "spec.yaml"


def first_output(tree: Path, work: Path, url: str, long_seconds: float) -> tuple[float, float, dict]:
    """(a): seconds until the first file of the short model's prompt set exists, and the apply's."""
    folder = example_copy(work, f"two-models-{tree.name}").parent
    spec = folder / "two.yaml"
    spec.write_text(TWO_MODELS.format(short=SHORT_STEPS, long=LONG_STEPS))
    first = None
    started = time.perf_counter()
    proc = child(tree, spec, url)
    deadline = started + long_seconds * 4 + 120
    while proc.poll() is None and time.perf_counter() < deadline:
        if first is None and any((folder / "outputs" / "short").glob("*.png")):
            first = time.perf_counter() - started
        time.sleep(0.05)
    answer = finish(proc, timeout=max(1.0, deadline - time.perf_counter()))
    if first is None and any((folder / "outputs" / "short").glob("*.png")):
        first = time.perf_counter() - started
    return (first if first is not None else float("nan")), time.perf_counter() - started, answer


# ------------------------------------------------------------------------------------------ (b)

LAYERS = {"api": 0, "state": 1, "plan": 2, "generate": 2, "apply": 3, "bulk": 3, "reports": 3, "pipeline": 4, "cli": 5}
BASE = {"lockfile": 0.5}  # below state (state reads the lock file), above api
NAMING_PATTERNS = (
    r"key\[:8\]",  # <name>-<key8>, <name>.<key8>.<ext>
    r"replaced-",  # <name>.replaced-<sha8>.<ext>
    r"seed\{",  # <set>/<variables>-seed<seed>
)


def core_files(tree: Path) -> list[Path]:
    package = tree / "bria_pipeline"
    return sorted(p for p in package.rglob("*.py") if "sandbox" not in p.relative_to(package).parts)


def rank(module: str) -> float | None:
    parts = module.split(".")
    if parts[0] != "bria_pipeline" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1], BASE.get(parts[1]))


def module_name(tree: Path, path: Path) -> str:
    rel = path.relative_to(tree).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, path: Path) -> list[str]:
    found = []
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found += [target] if node.module else [f"{target}.{a.name}" for a in node.names]
    return found


def back_up_imports(tree: Path) -> list[str]:
    """Imports from a layer into a higher one, and from the core into the sandbox."""
    out = set()
    for path in core_files(tree):
        module = module_name(tree, path)
        mine = rank(module)
        for target in imports_of(module, path):
            if target.startswith("bria_pipeline.sandbox") and not module.startswith("bria_pipeline.cli"):
                out.add(f"{module} -> {target}")
                continue
            theirs = rank(target)
            if mine is not None and theirs is not None and theirs > mine:
                out.add(f"{module} -> {target}")
    return sorted(out)


def code_text(path: Path) -> str:
    """The module's text without docstrings and comments (names mentioned in prose do not count)."""
    text = path.read_text()
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            for i in range(body[0].lineno - 1, body[0].end_lineno or body[0].lineno):
                lines[i] = ""
    return "\n".join(re.sub(r"\s#\s.*$", "", line) for line in lines)


def naming_modules(tree: Path) -> list[str]:
    patterns = [re.compile(p) for p in NAMING_PATTERNS]
    return [module_name(tree, p) for p in core_files(tree)
            if any(rx.search(code_text(p)) for rx in patterns)]


def core_lines(tree: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in core_files(tree))


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", type=Path, help="another checkout (e.g. main) measured in the same run")
    parser.add_argument("--long-seconds", type=float, default=90.0, help="the long training's length in seconds")
    parser.add_argument("--skip-a", action="store_true", help="leave out (a), the long one")
    args = parser.parse_args()
    trees = [("before", args.compare.resolve())] if args.compare else []
    trees.append(("after", ROOT))
    table = Table()
    training_seconds = args.long_seconds * DEFAULT_STEPS / LONG_STEPS
    short_seconds = training_seconds * SHORT_STEPS / DEFAULT_STEPS
    with tempfile.TemporaryDirectory(prefix="one-pipeline-") as tmp:
        work = Path(tmp)
        for label, tree in trees:
            ups = back_up_imports(tree)
            names = naming_modules(tree)
            table.add(f"(b) {label}", "core lines", core_lines(tree), "", "bria_pipeline/ without sandbox/")
            table.add(f"(b) {label}", "modules naming output files", len(names), "1", ", ".join(n.split(".", 1)[1] for n in names))
            table.add(f"(b) {label}", "back-up imports", len(ups), "0", "; ".join(u.replace("bria_pipeline.", "") for u in ups))
        for label, tree in trees:
            sandbox = ServedSandbox(work / f"sandbox-lucy-{label}" / "sandbox.sqlite")
            try:
                sandbox.reset_stats()
                spec = example_copy(work, f"lucy-{label}")
                started = time.perf_counter()
                answer = finish(child(tree, spec, sandbox.url), timeout=600)
                wall = time.perf_counter() - started
                served = sandbox.stats().get("total", "?")
                table.add(f"(c) {label}", "lucy first apply: requests / wall (s)", f"{served} / {wall:.1f}",
                          "no worse", answer["summary"])
            finally:
                sandbox.close()
        if not args.skip_a:
            for label, tree in trees:
                sandbox = ServedSandbox(work / f"sandbox-two-{label}" / "sandbox.sqlite", training_seconds=training_seconds)
                try:
                    first, wall, answer = first_output(tree, work / label, sandbox.url, args.long_seconds)
                finally:
                    sandbox.close()
                table.add(f"(a) {label}", "first short-model output / long training", f"{first / args.long_seconds:.2f}",
                          "< 0.2", f"{first:.1f} s after apply began; short training {short_seconds:.0f} s, long "
                          f"{args.long_seconds:.0f} s; apply {wall:.1f} s; {answer['summary']}")
    print(table.render())


if __name__ == "__main__":
    main()
