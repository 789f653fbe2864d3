"""Image intake and analysis with Pillow: format by content, size and resolution rules,
upscaling, thumbnails, and the pixel facts (sizes, dominant colours) the emulated
descriptions are built from."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from bria_pipeline.sandbox.problems import ApiProblem

FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
MAX_IMAGE_BYTES = 12 * 1024 * 1024
MIN_SIDE = 1024
MIN_UPSCALE_SIDE = 256
THUMBNAIL_SIDE = 256

Image.MAX_IMAGE_PIXELS = 100_000_000

_NAMED_COLOURS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "silver": (192, 192, 192),
    "red": (220, 40, 40), "dark red": (128, 0, 0), "orange": (255, 140, 0), "yellow": (240, 220, 40),
    "olive": (128, 128, 0), "green": (40, 170, 60), "dark green": (0, 90, 30), "teal": (0, 128, 128),
    "cyan": (60, 220, 230), "blue": (40, 80, 220), "navy": (0, 0, 110), "purple": (130, 50, 170),
    "magenta": (220, 50, 200), "pink": (250, 170, 200), "brown": (130, 80, 40), "beige": (225, 205, 165),
}


@dataclass(frozen=True)
class PreparedImage:
    """An accepted upload: the bytes to store and what is known about them."""

    data: bytes
    ext: str
    width: int
    height: int
    original_width: int
    original_height: int
    upscaled: bool
    facts: dict[str, Any]
    metadata_text: str = ""


def open_image(data: bytes) -> Image.Image:
    """Open by content; 415 for anything that is not a jpg, jpeg, png or webp image."""
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiProblem(415, "Unsupported media type: the data is not a jpg, jpeg, png or webp image.") from None
    except Image.DecompressionBombError:
        raise ApiProblem(413, "Image too large: too many pixels.") from None
    if image.format not in FORMATS:
        raise ApiProblem(415, f"Unsupported media type: {image.format} images are not accepted (jpg, jpeg, png, webp).")
    return image


def prepare_upload(data: bytes, *, increase_resolution: bool) -> PreparedImage:
    """Apply the upload rules: 413 over 12 MB, 415 by content, 412 under the resolution floor.

    With increase_resolution (the default) images from 256 px up are upscaled so that both sides
    reach 1024 px; without it both sides must already be 1024 px. Transparency becomes black.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiProblem(413, f"Image is {len(data) / 1e6:.1f} MB; the maximum is 12 MB.")
    image = open_image(data)
    width, height = image.size
    floor = MIN_UPSCALE_SIDE if increase_resolution else MIN_SIDE
    if min(width, height) < floor:
        hint = ("set increase_resolution to true to upscale images from 256x256" if not increase_resolution
                else "images smaller than 256x256 cannot be upscaled")
        raise ApiProblem(412, f"Resolution too low: {width}x{height}, minimum is {floor}x{floor} ({hint}).")
    try:
        image.load()
    except (OSError, ValueError):
        raise ApiProblem(415, "Unsupported media type: the image data is truncated or corrupt.") from None
    ext = FORMATS[image.format or ""]
    text = " ".join(str(v) for v in image.info.values() if isinstance(v, str))
    needs_upscale = min(width, height) < MIN_SIDE
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not needs_upscale and not has_alpha:
        return PreparedImage(data, ext, width, height, width, height, False, pixel_facts(image), text)
    work = _flatten_on_black(image) if has_alpha else image.convert("RGB")
    if needs_upscale:
        scale = MIN_SIDE / min(width, height)
        work = work.resize((round(width * scale), round(height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    work.save(out, format="PNG", optimize=False, compress_level=3)
    return PreparedImage(out.getvalue(), "png", work.width, work.height, width, height, needs_upscale,
                         pixel_facts(work), text)


def _flatten_on_black(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    background.alpha_composite(rgba)
    return background.convert("RGB")


def decode_any(data: bytes) -> Image.Image:
    """Open and fully load an image (415 when not a supported image)."""
    image = open_image(data)
    try:
        image.load()
    except (OSError, ValueError):
        raise ApiProblem(415, "Unsupported media type: the image data is truncated or corrupt.") from None
    return image


def thumbnail_png(data: bytes) -> bytes:
    image = ImageOps.exif_transpose(decode_any(data)).convert("RGB")
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def colour_name(rgb: tuple[int, int, int]) -> str:
    return min(_NAMED_COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(_NAMED_COLOURS[n], rgb)))


def pixel_facts(image: Image.Image) -> dict[str, Any]:
    """Size, orientation, brightness and the three dominant colours of an image."""
    width, height = image.size
    factor = min(width, height) // 64
    small = image.convert("RGB") if image.mode not in ("RGB", "L", "RGBA") else image
    small = small.reduce(factor) if factor > 1 else small.copy()  # cheap box reduction before anything else
    small = small.convert("RGB")
    small.thumbnail((64, 64))
    quantized = small.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    total = sum(c for c, _ in counts) or 1
    colours = []
    for count, index in counts[:3]:
        if not isinstance(index, int):  # a quantized image's pixels are palette indexes
            continue
        start = index * 3
        if len(palette) < start + 3:
            continue
        rgb = (palette[start], palette[start + 1], palette[start + 2])
        colours.append({
            "hex": "#%02x%02x%02x" % rgb,
            "name": colour_name(rgb),
            "share": round(count / total, 2),
        })
    grey = small.convert("L")
    histogram = grey.histogram()
    brightness = sum(i * c for i, c in enumerate(histogram)) / max(1, sum(histogram)) / 255
    if abs(width - height) <= max(width, height) * 0.05:
        orientation = "square"
    else:
        orientation = "landscape" if width > height else "portrait"
    return {
        "width": width,
        "height": height,
        "orientation": orientation,
        "brightness": round(brightness, 2),
        "dominant_colors": colours,
    }
