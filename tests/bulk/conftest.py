"""Images on disk for the bulk tests, described as the spec layer describes them."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        self.server.requests.append((self.command, self.path))

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def static_server(tmp_path: Path):
    """A directory served over HTTP on 127.0.0.1: yields (directory, base_url, requests)."""
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_port}", server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
