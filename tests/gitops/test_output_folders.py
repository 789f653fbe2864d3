"""Each spec has its own output folder: by default outputs/<spec stem>/, and `validate` refuses two
specs of one folder (or one run) that name the same folder, or one inside the other, naming both
files and lines. An explicit output_dir of a spec alone (examples/lucy's outputs/) is kept."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bria_pipeline.cli import main
from bria_pipeline.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "examples" / "lucy" / "images"

SPEC = """\
version: 1
project: {{name: {name}, ip_type: icons, ip_medium: illustration}}
datasets:
  icons:
    images: [{{path: images/pose-*.png}}]
    visual_schema:
      samples: [images/pose-01.png, images/pose-03.png, images/pose-05.png, images/pose-07.png, images/pose-09.png]
models:
  lora: {{dataset: icons, training_mode: fully_automated}}
generate:
  model: lora
{output_dir}  images:
    - {{name: app, prompt: an app icon, seeds: [1]}}
"""


def validate(*args: str):
    return CliRunner().invoke(main, ["--no-color", "validate", *map(str, args)], prog_name="bria-pipeline")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(IMAGES, tmp_path / "images", ignore=shutil.ignore_patterns("*.py", "*.md"))
    return tmp_path


def write(folder: Path, name: str, output_dir: str | None = None) -> Path:
    line = f"  output_dir: {output_dir}\n" if output_dir else ""
    path = folder / name
    path.write_text(SPEC.format(name=path.stem + "-project", output_dir=line), encoding="utf-8")
    return path


def test_specs_in_one_folder_get_an_output_folder_each_by_default(folder):
    a, b = write(folder, "a.yaml"), write(folder, "b.yaml")
    assert load_spec(a).generation.output_dir == folder.resolve() / "outputs" / "a"
    assert load_spec(b).generation.output_dir == folder.resolve() / "outputs" / "b"
    result = validate(folder)
    assert result.exit_code == 0, result.output
    assert "OK: 1 dataset, 10 images, 1 model, 1 output" in result.output


def test_validate_refuses_two_specs_naming_one_output_dir_with_both_files_and_lines(folder):
    a, b = write(folder, "a.yaml", "shared"), write(folder, "b.yaml", "shared")
    result = validate(folder)
    assert result.exit_code == 1
    line = SPEC.splitlines().index("{output_dir}  images:") + 1  # output_dir: is written on this line
    for own, other in ((a, b), (b, a)):
        assert re.search(
            rf"{re.escape(str(own))}:{line}:\d+: generate.output_dir: output_dir shared/ is also the output_dir of "
            rf"{re.escape(str(other))} \(line {line}, shared/\): specs never share outputs", result.output), result.output
    assert "hint: give each spec its own output_dir, or leave output_dir out" in result.output


def test_a_spec_validated_alone_is_checked_against_the_specs_beside_it(folder):
    a = write(folder, "a.yaml", "shared")
    write(folder, "b.yaml", "./shared/")
    result = validate(a)
    assert result.exit_code == 1
    assert f"is also the output_dir of {folder / 'b.yaml'}" in result.output
    (folder / "b.yaml").unlink()
    assert validate(a).exit_code == 0


def test_an_output_dir_inside_another_specs_is_refused(folder):
    write(folder, "lucy.yaml", "outputs")  # the old layout: outputs/ itself
    icons = write(folder, "icons.yaml")  # the default, outputs/icons/, would be inside it
    result = validate(icons)
    assert result.exit_code == 1
    assert (f"generate: the default output_dir (outputs/icons) outputs/icons/ is inside the output_dir of "
            f"{folder / 'lucy.yaml'}") in result.output


def test_an_explicit_output_dir_of_a_spec_alone_is_kept():
    desired = load_spec(REPO / "examples" / "lucy" / "spec.yaml")
    assert desired.generation.output_dir == (REPO / "examples" / "lucy" / "outputs").resolve()
    assert desired.generation.legacy_output_dir is None
    assert validate(REPO / "examples" / "lucy" / "spec.yaml").exit_code == 0


def test_outputs_at_the_old_default_folder_are_settled_into_the_spec_folder_for_a_copy(folder):
    """What `state push` reads: the spec's own folder, with outputs made at outputs/ moved into it."""
    from bria_pipeline.state.manifest import Manifest
    from bria_pipeline.state.records import OutputRecord
    from bria_pipeline.state.hashing import sha256_bytes
    from bria_pipeline.apply.relocate import settle_outputs

    desired = load_spec(write(folder, "icons.yaml"))
    (folder / "outputs" / "app").mkdir(parents=True)
    (folder / "outputs" / "app" / "seed1.png").write_bytes(b"paid for")
    Manifest(folder / "outputs", [OutputRecord(key="k", kind="image", name="app/seed1", set_name="app", model="lora",
                                               status="done", file="app/seed1.png", sha256=sha256_bytes(b"paid for"))]).save()
    manifest = settle_outputs(desired)
    assert manifest.output_dir == folder.resolve() / "outputs" / "icons" and manifest.moving_to is None
    assert (folder / "outputs" / "icons" / "app" / "seed1.png").read_bytes() == b"paid for"
    assert manifest.is_complete("k") and manifest.get("k").spec == "icons.yaml"
    assert not (folder / "outputs" / "manifest.json").exists()
