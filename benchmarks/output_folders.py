"""Output folders per spec: what moving outputs made at the old default folder costs, and what
validate's check of the specs beside one costs. Prints one table.

    python benchmarks/output_folders.py              1,000 and 5,000 outputs, 2 and 50 specs in a folder
    python benchmarks/output_folders.py --quick      smaller counts, for a smoke run

Moving (apply, the first time a spec that leaves output_dir out runs after the default became
outputs/<spec stem>/): the plan reads the old outputs/manifest.json and finds every file there
(no request: each would otherwise be a billed generation); apply renames the files, writes the new
manifest and drops the records from the old one. Every number is measured in this run, on files
written by it (small PNG-sized blobs: a rename does not read them).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from bria_pipeline.cli.spec_cmds import _output_claims
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord
from bria_pipeline.apply.relocate import move_outputs
from bria_pipeline.state.old_folder import load_generation_manifest
from bria_pipeline.model import DesiredGeneration
from bria_pipeline.spec.output_dirs import shared_output_problems

SPEC = """\
version: 1
project: {{name: p{i}, ip_type: icons, ip_medium: illustration}}
generate:
  model: lora
  images:
    - {{name: app, prompt: an app icon, seeds: [1]}}
"""


def old_default_folder(root: Path, outputs: int) -> DesiredGeneration:
    legacy = root / "outputs"
    records = []
    for i in range(outputs):
        data = os.urandom(2048)
        name = f"app/icon-{i:05d}-seed1"
        (legacy / "app").mkdir(parents=True, exist_ok=True)
        (legacy / f"{name}.png").write_bytes(data)
        records.append(OutputRecord(key=f"{i:016x}", kind="image", name=name, set_name="app", model="lora",
                                    status="done", file=f"{name}.png", sha256=hashlib.sha256(data).hexdigest()))
    manifest = Manifest(legacy, records)
    manifest.save()
    return DesiredGeneration(root / "outputs" / "spec", spec="spec.yaml", legacy_output_dir=legacy)


def move_row(outputs: int) -> tuple[str, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        generation = old_default_folder(Path(tmp), outputs)
        started = time.perf_counter()
        found = load_generation_manifest(generation, ["lora"])
        planned = time.perf_counter() - started
        assert found.moving_to is not None and len(found.files) == outputs
        started = time.perf_counter()
        moved = move_outputs(found, "spec.yaml")
        applied = time.perf_counter() - started
        assert moved == outputs and not (Path(tmp) / "outputs" / "manifest.json").exists()
        return (f"move {outputs:,} outputs from outputs/", f"{planned:.2f} s", f"{applied:.2f} s", "0", f"{outputs:,}")


def stamp_row(outputs: int) -> tuple[str, ...]:
    """The first apply of a spec whose records were written before they named their spec: every
    record is stamped (one journal append, one fsync), then the manifest saved."""
    with tempfile.TemporaryDirectory() as tmp:
        generation = old_default_folder(Path(tmp), outputs)
        manifest = Manifest.load(generation.legacy_output_dir)
        started = time.perf_counter()
        changed = manifest.mark_current([r.key for r in manifest], spec="spec.yaml", models=["lora"])
        manifest.save()
        elapsed = time.perf_counter() - started
        assert changed == outputs
        return (f"stamp {outputs:,} records with their spec (first apply)", "-", f"{elapsed:.2f} s", "0", "-")


def validate_row(specs: int) -> tuple[str, ...]:
    """What validate adds: every spec of the run and beside them read for its output_dir, and
    each compared with the others (measured alone: the rest of validate is unchanged)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(specs):
            paths.append(Path(tmp, f"s{i}.yaml"))
            paths[-1].write_text(SPEC.format(i=i), encoding="utf-8")
        started = time.perf_counter()
        claims = _output_claims(tuple(paths))
        problems = [p for claim in claims for p in shared_output_problems(claim, claims)]
        elapsed = time.perf_counter() - started
        assert len(claims) == specs and not problems
        return (f"validate's output-folder check, {specs} specs in one folder", f"{elapsed * 1000:.0f} ms", "-", "0", "-")


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    counts = (200,) if args.quick else (1_000, 5_000)
    folders = (2, 10) if args.quick else (2, 50)
    rows = [("what", "plan (read)", "apply (move)", "requests", "billed outputs saved")]
    rows += [move_row(n) for n in counts]
    rows += [stamp_row(n) for n in counts]
    rows += [validate_row(n) for n in folders]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main_()
