"""Helpers shared by the spec tests (imported by conftest and the test modules)."""

from __future__ import annotations

import io
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from PIL import Image

from bria_pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / ".." / "shared" / "contract" / "tailored-generation.openapi.yml"

BASE_PROJECT = """\
project:
  name: test-project
  ip_type: stylized_scene
  ip_medium: photography
"""
BASE_DATASETS = """\
datasets:
  main:
    images:
      - path: images/*.png
    visual_schema:
      samples: [images/01.png, images/02.png, images/03.png, images/04.png, images/05.png]
"""
BASE_MODELS = """\
models:
  m:
    dataset: main
"""
BASE_GENERATE = """\
generate:
  model: m
  images:
    - name: a
      prompt: a cat
"""


def png_bytes(width: int = 1024, height: int = 1024, shade: int = 0, fmt: str = "PNG") -> bytes:
    """A flat image whose colour (and a corner square) depends on `shade`: distinct content per shade."""
    img = Image.new("RGB", (width, height), ((shade * 40) % 256, (shade * 90) % 256, (shade * 150) % 256))
    img.paste((255 - shade % 256, 10, 10), (0, 0, 8 + shade % 50, 8))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def photo_jpeg(width: int = 1024, height: int = 1024, seed: int = 0, **save: object) -> bytes:
    """A photo-like JPEG (noise over a gradient, so the entropy-coded data is dense), distinct per seed."""
    noise = Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3))
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buf = io.BytesIO()
    Image.blend(gradient, noise, 0.25).save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


@dataclass
class Project:
    """A spec directory under tmp_path: images/01.png .. 06.png and a spec written on demand."""

    root: Path
    images: list[bytes]

    def write(self, text: str, name: str = "spec.yaml") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def spec(self, *, version: str = "version: 1\n", vars: str = "", project: str = BASE_PROJECT,
             datasets: str = BASE_DATASETS, models: str = BASE_MODELS, generate: str = BASE_GENERATE,
             name: str = "spec.yaml") -> Path:
        """Write a spec from sections (each a YAML text); the defaults make a valid spec."""
        parts = [version, vars, project, datasets, models, generate]
        return self.write("".join(textwrap.dedent(p) for p in parts), name)

    def image(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def run_validate(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, ["--no-color", "validate", *args], catch_exceptions=False)


def line_of(path: Path, marker: str = "#!") -> int:
    """The 1-based line of the spec that carries the marker comment."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"no {marker} marker in {path}")
