"""Write the plan schema's step types from their classes: `$defs.step` of schemas/plan.schema.json
and of its packaged copy, bria_pipeline/data/plan.schema.json, are made by plan/step_schema.py from
the step classes of bria_pipeline/plan/steps.py (their fields, type hints and docstrings).

    python tools/plan_schema.py          rewrite both copies
    python tools/plan_schema.py --check  exit 1 (saying what differs) when either is not what the classes make

tests/plan/test_step_schema.py runs the check. The rest of the schema (the plan's top level, the
action) is written by hand in schemas/plan.schema.json.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "schemas" / "plan.schema.json"
COPIES = (SOURCE, ROOT / "bria_pipeline" / "data" / "plan.schema.json")
COMMAND = "python tools/plan_schema.py"


def dump(schema: dict[str, Any]) -> str:
    """The schema's text as the repository keeps it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generated() -> str:
    """schemas/plan.schema.json with its step types made from the classes."""
    from bria_pipeline.plan.step_schema import with_steps

    return dump(with_steps(json.loads(SOURCE.read_text(encoding="utf-8"))))


def stale() -> list[tuple[Path, str]]:
    """(copy, unified diff) for every copy that is not what the classes make."""
    want = generated()
    out = []
    for path in COPIES:
        have = path.read_text(encoding="utf-8") if path.exists() else ""
        if have != want:
            name = str(path.relative_to(ROOT))
            diff = difflib.unified_diff(have.splitlines(True), want.splitlines(True), name, f"{name} (generated)", n=1)
            out.append((path, "".join(diff)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only say whether the copies are up to date")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for path, diff in found:
            print(f"{path.relative_to(ROOT)} differs from what the step classes make:\n{diff}", file=sys.stderr)
        if found:
            print(f"run: {COMMAND}", file=sys.stderr)
        return 1 if found else 0
    text = generated()
    for path in COPIES:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
