"""Layering figures: back-up imports, the size of the pipeline facade, repeated open/observe blocks.

    python benchmarks/layers.py                # this working tree against `main`
    python benchmarks/layers.py --rev HEAD~3   # against another revision

Each revision is read from git (`git archive`) into a temporary folder and its import graph built
with grimp (the library behind import-linter), so both columns come from one run.

- back-up imports: direct imports (module -> module, inline ones included) running up the layers
  cli > pipeline > commands > apply, bulk > reports > plan > state > identity, lockfile > api; any
  import between the core and the sandbox; for generate/ as one package (before it was split):
  plan/ or state/ importing it, and it importing plan/ while plan/ imports it (the cycle's other
  half); once split, generate/ sits between plan/ and state/.
- open-client-and-observe blocks: functions in pipeline.py and commands/ that open a client and
  observe (each repeats load lock file / take state lock / open state / open client / observe);
  below them, the call sites of each of those steps.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["api", "identity", "lockfile", "state", "plan", "apply", "commands", "pipeline", "cli"]
RANK = {name: i for i, name in enumerate(ORDER)} | {"bulk": ORDER.index("apply"), "reports": ORDER.index("plan") + 0.5}
# generate/ as it was on main before it was split (planning and runs, manifest, gallery): counted by
# the rules below; once split it holds what the spec asks for, named, between plan/ and state/
GENERATE_LAYER = ORDER.index("plan") - 0.5
CORE = {"pipeline", "commands", "apply", "bulk", "generate", "plan", "state", "identity", "lockfile", "spec", "model", "api"}
SITES = {"load_lock": "load the lock file", "for_spec": "open the state", "_open_state": "open the state",
         "client": "open a client", "connect": "open a client", "StateLock": "take the state lock",
         "_run_lock": "take the state lock", "run_lock": "take the state lock",
         "observe": "observe", "_observe": "observe"}

GRAPH = r"""
import json, sys
import grimp
g = grimp.build_graph("bria_pipeline", cache_dir=None)
edges = sorted({(m, i) for m in g.modules for i in g.find_modules_directly_imported_by(m)})
print(json.dumps(edges))
"""


def snapshot(rev: str, into: Path) -> Path:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "bria_pipeline"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    # packages without __init__.py are invisible to an import graph: count them as packages
    for folder in (into / "bria_pipeline").rglob("*"):
        if folder.is_dir() and any(folder.glob("*.py")) and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")
    return into


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def backup_imports(source: Path) -> list[tuple[str, str]]:
    out = subprocess.run([sys.executable, "-c", GRAPH], cwd=source, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"})
    edges = [tuple(e) for e in json.loads(out.stdout)]
    packages = {(top(a), top(b)) for a, b in edges}
    split = not (source / "bria_pipeline" / "generate" / "planning.py").exists()
    bad = []
    for a, b in edges:
        ta, tb = top(a), top(b)
        if ta == tb:
            continue
        if ta in RANK and tb in RANK and RANK[ta] < RANK[tb]:
            bad.append((a, b))
        elif (ta in CORE and tb == "sandbox") or (ta == "sandbox" and tb in CORE - {"api"}):
            bad.append((a, b))
        elif split and "generate" in (ta, tb):
            rank = {**RANK, "generate": GENERATE_LAYER}
            if ta in rank and tb in rank and rank[ta] < rank[tb]:
                bad.append((a, b))
        elif ta in ("plan", "state") and tb == "generate":
            bad.append((a, b))
        elif ta == "generate" and tb == "plan" and ("plan", "generate") in packages:
            bad.append((a, b))
    return bad


def facade(source: Path) -> dict[str, int]:
    files = [source / "bria_pipeline" / "pipeline.py", *sorted((source / "bria_pipeline" / "commands").glob("*.py"))]
    files = [f for f in files if f.exists()]
    sites: Counter[str] = Counter()
    blocks = 0
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node) in SITES:
                sites[SITES[_name(node)]] += 1
        for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            called = {SITES[_name(n)] for n in ast.walk(fn) if isinstance(n, ast.Call) and _name(n) in SITES}
            blocks += {"open a client", "observe"} <= called
    pipeline = source / "bria_pipeline" / "pipeline.py"
    return {
        "pipeline.py lines": len(pipeline.read_text(encoding="utf-8").splitlines()),
        "pipeline.py + commands/ lines": sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files),
        "open-client-and-observe blocks": blocks,
        **{f"  call sites: {what}": n for what, n in sorted(sites.items())},
    }


def _name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def measure(source: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    bad = backup_imports(source)
    figures = facade(source)
    figures["back-up imports (module pairs)"] = len(bad)
    figures["back-up imports (package pairs)"] = len({(top(a), top(b)) for a, b in bad})
    figures["back-up imports not touching generate/"] = sum("generate" not in (top(a), top(b)) for a, b in bad)
    return figures, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default="main", help="the revision to compare with (default: main)")
    parser.add_argument("--list", action="store_true", help="list the back-up imports of both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before, bad_before = measure(snapshot(args.rev, Path(tmp)))
    after, bad_after = measure(ROOT)
    names = list(dict.fromkeys([*before, *after]))
    width = max(map(len, names))
    print(f"{'':{width}}  {args.rev:>10}  {'this tree':>10}")
    for name in names:
        print(f"{name:{width}}  {before.get(name, 0):>10}  {after.get(name, 0):>10}")
    if args.list:
        for label, bad in ((args.rev, bad_before), ("this tree", bad_after)):
            print(f"\nback-up imports in {label}:")
            for a, b in bad:
                print(f"  {a} -> {b}")


if __name__ == "__main__":
    main()
