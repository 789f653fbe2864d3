"""Images on disk for the bulk tests, described as the spec layer describes them."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from bria_pipeline.model import ImageSource


def image_source(root: Path, rel: str, data: bytes) -> ImageSource:
    """Write `data` at root/rel and return the ImageSource the spec layer would make for it."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ImageSource(key=rel, sha256=hashlib.sha256(data).hexdigest(), path=path, size=len(data))


def png_bytes(index: int, side: int = 1024) -> bytes:
    """A flat-colour PNG, distinct per index: a few KB even at 1024 x 1024."""
    colour = ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)
    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def make_image(tmp_path: Path):
    """`make_image(rel, data)`: write one file under tmp_path and describe it."""
    return lambda rel, data: image_source(tmp_path, rel, data)


@pytest.fixture
def random_images(tmp_path: Path):
    """`random_images(n, size)`: n files of `size` random bytes under tmp_path/images/."""

    def make(n: int, size: int = 4096, prefix: str = "img") -> list[ImageSource]:
        return [image_source(tmp_path, f"images/{prefix}-{i:04d}.png", os.urandom(size)) for i in range(n)]

    return make


@pytest.fixture
def png_images(tmp_path: Path):
    """`png_images(n)`: n real 1024 x 1024 PNGs under tmp_path/pngs/."""

    def make(n: int, start: int = 0) -> list[ImageSource]:
        return [image_source(tmp_path, f"pngs/pose-{i:03d}.png", png_bytes(i)) for i in range(start, start + n)]

    return make
