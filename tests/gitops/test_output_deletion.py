"""Nothing deletes an output file that its own spec's manifest did not write: the executor refuses a
delete of a record another spec made, and keeps a file whose content is no longer the recorded one
(even when a plan, saved earlier, says to delete it)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord
from bria_pipeline.state.hashing import sha256_bytes
from bria_pipeline.plan.actions import Action
from bria_pipeline.plan.steps import DeleteOutput

sys.path.insert(0, str(Path(__file__).parents[1] / "apply"))
from outputs_run import NoNetwork, run_outputs  # noqa: E402


def record(out: Path, key: str, name: str, spec: str | None, data: bytes) -> OutputRecord:
    (out / f"{name}.png").parent.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.png").write_bytes(data)
    return OutputRecord(key=key, kind="image", name=name, set_name=name.split("/")[0], model="lora", status="done",
                        file=f"{name}.png", sha256=sha256_bytes(data), spec=spec)


def delete(key: str, file: str, spec: str) -> Action:
    return Action(f"generation.{key}", "delete", "no longer in the spec, --prune", approval=True,
                  step=DeleteOutput(key, file, spec))


def test_a_delete_touches_only_the_files_its_own_spec_recorded(tmp_path: Path):
    out = tmp_path / "outputs"
    mine = record(out, "k1", "app/cat-seed1", "icons.yaml", b"mine")
    theirs = record(out, "k2", "places/beach-seed1", "spec.yaml", b"theirs")
    edited = record(out, "k3", "app/dog-seed1", "icons.yaml", b"as generated")
    (out / "app/dog-seed1.png").write_bytes(b"edited by hand")
    legacy = record(out, "k4", "app/owl-seed1", None, b"made before records named their spec")
    manifest = Manifest(out, [mine, theirs, edited, legacy])
    manifest.save()
    actions = [delete(r.key, r.file, "icons.yaml") for r in (mine, theirs, edited, legacy)]

    report = asyncio.run(run_outputs(actions, NoNetwork(), Manifest.load(out), out, lock_pins={}))

    assert report.failed == [("generation.k2", "places/beach-seed1.png was made by spec.yaml, not by icons.yaml: not deleted")]
    assert (out / "places/beach-seed1.png").read_bytes() == b"theirs"
    assert not (out / "app/cat-seed1.png").exists() and not (out / "app/owl-seed1.png").exists()
    assert (out / "app/dog-seed1.png").read_bytes() == b"edited by hand"  # not the recorded content: kept
    assert set(Manifest.load(out).outputs) == {"k2"}
