"""Placeholder training images, so a freshly scaffolded spec validates before real images exist.

Each placeholder is a 1024x1024 PNG of flat shapes with its number drawn large, different from
every other one (the duplicate check compares content). They are for trying the pipeline out,
against the sandbox; replace them with real images before training anything that matters.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 1024
# Seven-segment digits: which of the segments a..g are lit.
_SEGMENTS = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg",
    "5": "acdfg", "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}


def _digit(draw: ImageDraw.ImageDraw, x: int, y: int, char: str, w: int, h: int, thick: int, fill: str) -> None:
    half = h // 2
    boxes = {
        "a": (x, y, x + w, y + thick),
        "b": (x + w - thick, y, x + w, y + half),
        "c": (x + w - thick, y + half, x + w, y + h),
        "d": (x, y + h - thick, x + w, y + h),
        "e": (x, y + half, x + thick, y + h),
        "f": (x, y, x + thick, y + half),
        "g": (x, y + half - thick // 2, x + w, y + half + thick // 2),
    }
    for segment in _SEGMENTS[char]:
        draw.rectangle(boxes[segment], fill=fill)


def _hex(h: float, s: float, v: float) -> str:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def placeholder(number: int) -> Image.Image:
    """Placeholder `number` (1-99): a tinted background, a shape, and the number itself."""
    hue = (number * 0.137) % 1.0
    img = Image.new("RGB", (SIZE, SIZE), _hex(hue, 0.18, 0.97))
    draw = ImageDraw.Draw(img)
    shape = _hex(hue + 0.5, 0.55, 0.85)
    r = 180 + (number * 37) % 160
    cx, cy = 260 + (number * 97) % 500, 300 + (number * 53) % 400
    if number % 3 == 0:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=shape)
    elif number % 3 == 1:
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=shape)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=shape)
    text = f"{number:02d}"
    for i, char in enumerate(text):
        _digit(draw, 330 + i * 200, 380, char, 160, 280, 36, _hex(hue, 0.8, 0.35))
    draw.rectangle([0, 0, SIZE - 1, SIZE - 1], outline=_hex(hue, 0.8, 0.35), width=12)
    return img.quantize(colors=8, dither=Image.Dither.NONE)


def draw_placeholders(directory: Path, count: int = 12, *, prefix: str = "") -> list[Path]:
    """Write `count` placeholders as ``<prefix>01.png`` ... into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(1, count + 1):
        path = directory / f"{prefix}{number:02d}.png"
        placeholder(number).save(path, optimize=True)
        paths.append(path)
    return paths
