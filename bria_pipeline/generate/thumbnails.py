"""Small previews for the HTML pages, made with Pillow.

The gallery keeps thumbnails in ``output_dir/.thumbs/<sha256 prefix>.jpg``: named by content, made
once, reused by every later gallery. The review sheet embeds them as data URIs so the sheet can be
moved or mailed on its own.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bria_pipeline.output_names import THUMB_DIR, thumbnail_name
from bria_pipeline.atomic import write_atomic

THUMB_SIZE = (320, 320)


MAX_FRAME_SEARCH = 4 << 20  # bytes of a video read to find its first JPEG frame


def _first_frame(source: Path) -> io.BytesIO | None:
    """The first frame of an MJPEG video (each frame a whole JPEG), or None."""
    try:
        with open(source, "rb") as f:
            head = f.read(MAX_FRAME_SEARCH)
    except OSError:
        return None
    start = head.find(b"\xff\xd8\xff")
    return io.BytesIO(head[start:]) if start >= 0 else None


def _jpeg_thumbnail(source: Path | io.BytesIO, size: tuple[int, int]) -> bytes | None:
    try:
        with Image.open(source) as opened:
            opened.draft("RGB", size)
            opened.thumbnail(size)
            im: Image.Image = opened
            if im.mode not in ("RGB", "L"):
                background = Image.new("RGB", im.size, (255, 255, 255))
                rgba = im.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                im = background
            out = io.BytesIO()
            im.save(out, "JPEG", quality=82, optimize=True)
            return out.getvalue()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def cached_thumbnail(output_dir: Path, source: Path, sha256: str) -> str | None:
    """The thumbnail's path relative to `output_dir`, made if missing; None if not an image."""
    rel = thumbnail_name(sha256)
    target = output_dir / rel
    if target.is_file():
        return rel
    data = _jpeg_thumbnail(source, THUMB_SIZE)
    if data is None:
        return None
    write_atomic(target, data)
    return rel


def cached_frame_thumbnail(output_dir: Path, video: Path, sha256: str) -> str | None:
    """The thumbnail of an MJPEG video's first frame (as `cached_thumbnail`); None for other videos."""
    rel = thumbnail_name(sha256)
    if (output_dir / rel).is_file():
        return rel
    frame = _first_frame(video)
    data = _jpeg_thumbnail(frame, THUMB_SIZE) if frame is not None else None
    if data is None:
        return None
    write_atomic(output_dir / rel, data)
    return rel


def sweep_thumbnails(output_dir: Path, keep: set[str]) -> list[Path]:
    """Delete the thumbnails not named in `keep` (outputs pruned or replaced); returns them."""
    removed = []
    folder = output_dir / THUMB_DIR
    if folder.is_dir():
        for path in folder.glob("*.jpg"):
            if f"{THUMB_DIR}/{path.name}" not in keep:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def data_uri_thumbnail(source: Path, size: tuple[int, int] = (220, 220)) -> str | None:
    data = _jpeg_thumbnail(source, size)
    if data is None:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
