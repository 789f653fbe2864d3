"""The spec's manifest with the outputs it made at the old default folder (state/old_folder.py):
found there, this spec's only, their files looked for in both folders, marked to move."""

from __future__ import annotations

from pathlib import Path

from bria_pipeline.model import DesiredGeneration
from bria_pipeline.state.hashing import sha256_bytes
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.old_folder import load_generation_manifest
from bria_pipeline.state.records import OutputRecord, StructuredPromptRecord


def _done(key: str, model: str, spec: str | None = None) -> OutputRecord:
    return OutputRecord(key=key, kind="image", name=f"app/{key}", set_name="app", model=model, status="done",
                        file=f"app/{key}.png", sha256=sha256_bytes(key.encode()), spec=spec)


def _old_folder(tmp_path: Path) -> tuple[Path, DesiredGeneration]:
    old = tmp_path / "outputs"
    records = [_done("mine", "lora", "icons.yaml"), _done("unstamped", "lora[rank=32]"), _done("theirs", "lora", "mira.yaml"),
               _done("other-model", "mira-lora")]
    for record in records:
        (old / "app").mkdir(parents=True, exist_ok=True)
        (old / "app" / f"{record.key}.png").write_bytes(record.key.encode())
    Manifest(old, records, [StructuredPromptRecord("h1", "app", "an icon", "lora"),
                            StructuredPromptRecord("h2", "app", "an icon", "mira-lora")]).save()
    return old, DesiredGeneration(old / "icons", spec="icons.yaml", legacy_output_dir=old)


def test_this_specs_outputs_at_the_old_folder_are_found_and_marked_to_move(tmp_path: Path):
    old, generation = _old_folder(tmp_path)
    (generation.output_dir / "app").mkdir(parents=True)  # a move killed half way: one file is there already
    (old / "app" / "unstamped.png").rename(generation.output_dir / "app" / "unstamped.png")

    found = load_generation_manifest(generation, ["lora"])
    assert found.output_dir == old and found.moving_to == generation.output_dir
    assert sorted(found.outputs) == ["mine", "unstamped"] and list(found.structured_prompts) == ["h1"]
    assert found.is_complete("mine") and found.is_complete("unstamped")
    assert len(Manifest.load(old)) == 4  # read, not changed: apply moves them (apply/relocate.py)


def test_the_old_folder_is_not_read_once_the_spec_has_a_manifest_of_its_own(tmp_path: Path):
    old, generation = _old_folder(tmp_path)
    Manifest(generation.output_dir, [_done("new", "lora", "icons.yaml")]).save()
    own = load_generation_manifest(generation, ["lora"])
    assert own.output_dir == generation.output_dir and own.moving_to is None and list(own.outputs) == ["new"]
    elsewhere = DesiredGeneration(tmp_path / "other", spec="other.yaml", legacy_output_dir=old)
    none_of_its_own = load_generation_manifest(elsewhere, ["unknown-model"])
    assert none_of_its_own.output_dir == tmp_path / "other" and len(none_of_its_own) == 0
