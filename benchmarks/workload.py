"""The benchmark's inputs, made on the spot: 1024 x 1024 PNGs and the spec that uses them.

Encoding thousands of 1024 x 1024 PNGs would take longer than the benchmark itself, so a few
flat-colour PNGs are encoded once, and every image is one of them with a ``tEXt`` chunk carrying
its number: a valid PNG of the required size (a few KB), with its own bytes and content hash.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

SIDE = 1024
_BASE_COLOURS = 16
_IHDR_END = 8 + 25  # signature, then the IHDR chunk (length, type, 13 bytes, CRC)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _flat_png(index: int, side: int) -> bytes:
    colour = ((index * 67) % 256, (index * 131) % 256, (index * 29) % 256)
    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, format="PNG")
    return buf.getvalue()


def write_images(directory: Path, count: int, *, prefix: str = "img", side: int = SIDE, padding: int = 0) -> list[Path]:
    """`count` distinct PNGs named prefix-00000.png ... in `directory` (kept if already there).

    `padding` adds that many random bytes in a private ancillary chunk (which decoders skip), to
    make files as heavy as photographs without the time to encode photographs."""
    directory.mkdir(parents=True, exist_ok=True)
    bases = [_flat_png(i, side) for i in range(min(count, _BASE_COLOURS))]
    paths = []
    for i in range(count):
        path = directory / f"{prefix}-{i:05d}.png"
        if not path.exists():
            base = bases[i % len(bases)]
            text = _chunk(b"tEXt", b"Comment\x00" + f"{prefix} {i}".encode())
            extra = _chunk(b"bnCh", os.urandom(padding)) if padding else b""
            path.write_bytes(base[:_IHDR_END] + text + extra + base[_IHDR_END:])
        paths.append(path)
    return paths


THINGS = ["lantern", "kite", "teapot", "bicycle", "violin", "cactus", "robot", "sailboat", "owl", "clock"]
PLACES = ["beach", "forest", "city", "desert", "harbor", "library", "market", "mountain", "garden", "station"]


def write_spec(root: Path, *, basic: int, advanced: int = 0, seeds: int = 10, models: bool = True,
               project: str = "bench-scale") -> Path:
    """A spec with a basic dataset of `basic` images and, when `advanced` > 0, an advanced one;
    with `models`, three models and len(THINGS) x len(PLACES) x `seeds` generation outputs
    (1,000 with the defaults)."""
    write_images(root / "basic", basic, prefix="basic")
    lines = [
        "version: 1",
        "project:",
        f"  name: {project}",
        "  ip_type: stylized_scene",
        "  ip_medium: illustration",
        "staging:",
        "  kind: sandbox",
        "datasets:",
        "  basic:",
        "    upload_type: basic",
        '    images: ["basic/*.png"]',
        f"    visual_schema: {{samples: {[f'basic/basic-{i:05d}.png' for i in range(5)]}}}",
    ]
    if advanced:
        write_images(root / "big", advanced, prefix="big")
        lines += [
            "  big:",
            "    upload_type: advanced",
            '    images: ["big/*.png"]',
            f"    visual_schema: {{samples: {[f'big/big-{i:05d}.png' for i in range(5)]}}}",
        ]
    if models:
        lines += [
            "models:",
            "  small: {dataset: basic}",
            f"  large: {{dataset: {'big' if advanced else 'basic'}}}",
            "  small-expert:",
            "    dataset: basic",
            "    training_mode: expert",
            "    training: {rank: 32, total_training_steps: 200, checkpoint_interval: 100}",
            "generate:",
            "  model: small",
            "  output_dir: outputs",
            "  images:",
            "    - name: grid",
            '      prompt: "a {{ thing }} at the {{ place }}"',
            "      matrix:",
            f"        thing: {THINGS}",
            f"        place: {PLACES}",
            f"      seeds: {list(range(1, seeds + 1))}",
        ]
    path = root / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path
