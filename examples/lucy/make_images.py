"""Draw the Lucy example's training images: flat, simple poses of a girl with purple hair.

The images are committed; this script is how they were made (run it to make them again):

    python examples/lucy/make_images.py

Flat colours in a small palette keep each 1024x1024 PNG small. The drawing is deterministic,
so running it again gives byte-identical files and the dataset's fingerprint does not change.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 1024
HERE = Path(__file__).resolve().parent
BACKGROUNDS = ["#f6e7c1", "#cfe8f3", "#e3f1d4", "#f9d9e2", "#e6e0f5", "#fde2c8", "#d9f0ee", "#f2f2f2", "#fff1b8", "#dfe9fb"]
SKIN, HAIR, DRESS, SHOE, EYE = "#f5cfb1", "#7a3fb5", "#2f8f83", "#3b2b22", "#222222"


def limb(draw: ImageDraw.ImageDraw, x: float, y: float, length: float, angle: float, width: int, colour: str) -> tuple[float, float]:
    """A straight limb from (x, y) at `angle` degrees (0 = down); returns where it ends."""
    ex = x + length * math.sin(math.radians(angle))
    ey = y + length * math.cos(math.radians(angle))
    draw.line([(x, y), (ex, ey)], fill=colour, width=width)
    draw.ellipse([ex - width / 2, ey - width / 2, ex + width / 2, ey + width / 2], fill=colour)
    return ex, ey


def lucy(index: int) -> Image.Image:
    """Pose `index`: where she stands, how big she is and how her arms and legs are set."""
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUNDS[index % len(BACKGROUNDS)])
    draw = ImageDraw.Draw(img)
    cx = 380 + (index * 73) % 280
    scale = 0.8 + (index % 4) * 0.1
    head_r = 95 * scale
    head_y = 260 + (index % 3) * 30
    # ground
    draw.rectangle([0, 900, SIZE, SIZE], fill="#c9b79c" if index % 2 else "#a7c796")
    # hair behind the head
    draw.ellipse([cx - head_r * 1.25, head_y - head_r * 1.15, cx + head_r * 1.25, head_y + head_r * 1.6], fill=HAIR)
    # body (a dress: a trapezoid)
    top, bottom = head_y + head_r * 0.9, head_y + head_r * 4.2
    draw.polygon([(cx - 60 * scale, top), (cx + 60 * scale, top), (cx + 150 * scale, bottom), (cx - 150 * scale, bottom)], fill=DRESS)
    # arms and legs: angles change with the pose
    arm = [(-35, 35), (-150, 30), (-60, 160), (20, -20), (-120, 120), (-10, 100), (-170, 170), (-45, 80), (-90, 10), (-25, 140)][index % 10]
    limb(draw, cx - 55 * scale, top + 25, 150 * scale, arm[0] + 180 if arm[0] < -90 else arm[0], int(28 * scale), SKIN)
    limb(draw, cx + 55 * scale, top + 25, 150 * scale, arm[1] - 180 if arm[1] > 90 else arm[1], int(28 * scale), SKIN)
    stride = [10, 25, 5, 30, 15, 20, 0, 35, 12, 28][index % 10]
    for side in (-1, 1):
        fx, fy = limb(draw, cx + side * 55 * scale, bottom - 10, 150 * scale, side * stride, int(32 * scale), SKIN)
        draw.ellipse([fx - 38 * scale, fy - 12, fx + 38 * scale, fy + 22], fill=SHOE)
    # head, fringe, eyes, mouth
    draw.ellipse([cx - head_r, head_y - head_r, cx + head_r, head_y + head_r], fill=SKIN)
    draw.chord([cx - head_r * 1.05, head_y - head_r * 1.1, cx + head_r * 1.05, head_y + head_r * 0.3], 180, 360, fill=HAIR)
    look = [-12, 0, 12][index % 3] * scale
    for side in (-1, 1):
        ex = cx + side * head_r * 0.38 + look
        draw.ellipse([ex - 9 * scale, head_y + 5, ex + 9 * scale, head_y + 5 + 22 * scale], fill=EYE)
    draw.arc([cx - 30 * scale + look, head_y + 30, cx + 30 * scale + look, head_y + 65 * scale], 20, 160, fill=EYE, width=5)
    # a sun or a moon, so that no two images are alike
    sx = 120 + (index * 211) % 800
    draw.ellipse([sx - 45, 70, sx + 45, 160], fill="#f4b53f" if index % 2 == 0 else "#fafafa")
    return img.quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def main(count: int = 10) -> None:
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    for i in range(count):
        lucy(i).save(out / f"pose-{i + 1:02d}.png", optimize=True)
    print(f"wrote {count} images to {out}")


if __name__ == "__main__":
    main()
