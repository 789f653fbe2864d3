"""Recipes: one ready spec per IP type, and scaffolding a new project directory from one.

The recipes are ``specs/<ip_type>.yaml`` in the repository; the same files ship inside the
package (``bria_pipeline/data/recipes/``) so that ``bria-pipeline init`` works from an
installed wheel. A test keeps both copies identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bria_pipeline.spec.placeholders import draw_placeholders
from bria_pipeline.spec.problems import SpecError
from bria_pipeline.spec.schema import schema_text

RECIPES = (
    "defined_character",
    "stylized_scene",
    "multi_object_set",
    "object_variants",
    "icons",
    "character_variants",
    "other",
)
SCHEMA_LINE = "# yaml-language-server: $schema="
PLACEHOLDER_COUNT = 12

IMAGES_README = """\
# Training images

Put the training images for spec.yaml here: JPEG, PNG or WEBP, at least 1024x1024 pixels
(256x256 with `increase_resolution: true` on the source), at most 12 MB each, no duplicates.

The recipe lists `images/*.png` and names five of them as visual schema samples
(`images/01.png` ... `images/05.png`): edit spec.yaml to match your file names.
Then check everything locally, before any request is sent:

    bria-pipeline validate spec.yaml

`bria-pipeline init --placeholder-images` draws numbered placeholder images instead, to try the
pipeline against the sandbox (`bria-pipeline --sandbox apply spec.yaml`). Replace them before
training a real model.
"""

GITIGNORE = """\
# bria-pipeline: local state and caches (rebuildable), generated outputs
.bria/
outputs/
"""


class ScaffoldError(SpecError):
    """`init` cannot write the new project (files exist, unknown recipe)."""


def recipe_text(name: str) -> str:
    if name not in RECIPES:
        raise ScaffoldError(f"no recipe {name!r}", hint=f"recipes: {', '.join(RECIPES)}")
    return resources.files("bria_pipeline").joinpath(f"data/recipes/{name}.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Scaffold:
    directory: Path
    written: tuple[Path, ...]


def scaffold(name: str, directory: Path, *, placeholder_images: bool = False) -> Scaffold:
    """Write spec.yaml (from the recipe), spec.schema.json, images/README.md and .gitignore.

    Refuses, writing nothing, when any of those files already exists.
    """
    text = recipe_text(name)
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith(SCHEMA_LINE):
        lines[0] = f"{SCHEMA_LINE}spec.schema.json\n"
    files = {
        directory / "spec.yaml": "".join(lines),
        directory / "spec.schema.json": schema_text(),
        directory / "images" / "README.md": IMAGES_README,
        directory / ".gitignore": GITIGNORE,
    }
    images = [directory / "images" / f"{n:02d}.png" for n in range(1, PLACEHOLDER_COUNT + 1)] if placeholder_images else []
    existing = [p for p in [*files, *images] if p.exists()]
    if existing:
        shown = ", ".join(str(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise ScaffoldError(f"not overwriting existing files: {shown}",
                            hint="choose a new directory, or move those files away first")
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    if placeholder_images:
        draw_placeholders(directory / "images", PLACEHOLDER_COUNT)
    return Scaffold(directory, tuple([*files, *images]))
