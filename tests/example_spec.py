"""The one builder of the example spec (Lucy, examples/lucy) for every test folder: a copy of the
repository's example on disk, or the text of a smaller Lucy spec for tests that choose their images.

Imported by its unique name: tests/ is on the import path (tests/conftest.py sits there)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lucy"
EXAMPLE_IMAGES = EXAMPLE / "images"
EXAMPLE_IGNORED = shutil.ignore_patterns(".bria", "outputs", "*.lock.yaml")


def copy_example(where: Path) -> Path:
    """A fresh copy of examples/lucy at `where` (no .bria/, no outputs, no lock file); returns its spec."""
    shutil.copytree(EXAMPLE, where, ignore=EXAMPLE_IGNORED)
    return where / "spec.yaml"


def lucy_spec(
    *,
    project: str,
    description: str | None = None,
    ip_type: str = "defined_character",
    refine: bool = True,
    complete: bool | None = None,
    captions: tuple[str, ...] = ("caption", "refine"),
    training: dict[str, object] | None = None,
    generate: bool = False,
) -> str:
    """The text of a Lucy spec over images/pose-NN.png (samples: the first five).

    `complete`: None leaves the dataset's `complete` out; `captions`: which manual caption entries
    ("caption": pose-02 given, "refine": pose-03 refined); `training`: a lucy-lora model with these
    training parameters; `generate`: one generation set on that model, into outputs/."""
    samples = ", ".join(f"images/pose-{i:02d}.png" for i in range(1, 6))
    text = f"version: 1\nproject:\n  name: {project}\n"
    if description is not None:
        text += f"  description: {description}\n"
    text += f"""  ip_type: {ip_type}
  ip_medium: illustration
  ip_name: Lucy
  ip_description: a girl with purple hair
datasets:
  lucy:
    images:
      - path: images/*.png
    visual_schema:
      samples: [{samples}]
"""
    if refine:
        text += """      refine:
        - "The character's name is Lucy"
"""
    if complete is not None:
        text += f"    complete: {str(complete).lower()}\n"
    if captions:
        text += "    captions:\n"
    if "caption" in captions:
        text += """      images/pose-02.png:
        caption: {subject: Lucy waving, background: plain}
"""
    if "refine" in captions:
        text += """      images/pose-03.png:
        refine: Fix the description of the hair colour to purple
"""
    if training is not None:
        text += "models:\n  lucy-lora:\n    dataset: lucy\n    training_mode: expert\n    training:\n"
        text += "".join(f"      {name}: {value}\n" for name, value in training.items())
    if generate:
        text += """generate:
  model: lucy-lora
  output_dir: outputs
  images:
    - name: places
      prompt: "Lucy at the {{ place }}"
      matrix:
        place: [beach, city]
      seeds: [1]
"""
    return text
