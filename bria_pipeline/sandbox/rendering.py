"""Real media for emulated generations: small PNGs and MJPEG AVI videos, written with Pillow.

Images are deterministic in their key material (model, prompt or structured prompt, seed,
aspect ratio, parameters) and have the aspect ratio's real proportions (256 px on the long
side). Each one says in its pixels and in its PNG text chunks that it is emulated.
"""

from __future__ import annotations

import hashlib
import io
import struct
import textwrap

from PIL import Image, ImageDraw, ImageFont, features
from PIL.PngImagePlugin import PngInfo

LONG_SIDE = 256
LABEL = "EMULATED - bria-pipeline sandbox"
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9")


def size_for(aspect_ratio: str, long_side: int = LONG_SIDE) -> tuple[int, int]:
    w, h = (int(p) for p in aspect_ratio.split(":"))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def render_png(key_material: str, text: str, aspect_ratio: str) -> bytes:
    """A deterministic picture: hash colours, hash shapes, the prompt text and the emulated label."""
    digest = hashlib.sha256(key_material.encode("utf-8")).digest()
    width, height = size_for(aspect_ratio)
    top, bottom = digest[0:3], digest[3:6]
    gradient = Image.new("RGB", (1, 64))
    for y in range(64):
        t = y / 63
        gradient.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    image = gradient.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for i in range(4):
        chunk = digest[6 + i * 6: 12 + i * 6]
        cx, cy = chunk[0] / 255 * width, chunk[1] / 255 * height
        r = 12 + chunk[2] / 255 * min(width, height) / 3
        fill = (chunk[3], chunk[4], chunk[5])
        if i % 2:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(255, 255, 255))
        else:
            draw.rectangle((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=fill, outline=(0, 0, 0))
    font = _font(12)
    lines = textwrap.wrap(text or "(no prompt)", width=max(10, width // 8))[:6]
    y = 6
    for line in lines:
        draw.text((7, y + 1), line, fill=(0, 0, 0), font=font)
        draw.text((6, y), line, fill=(255, 255, 255), font=font)
        y += 15
    draw.rectangle((0, height - 16, width, height), fill=(0, 0, 0))
    draw.text((4, height - 14), LABEL, fill=(255, 210, 0), font=_font(10))
    info = PngInfo()
    info.add_text("emulated", "true")
    info.add_text("generator", LABEL)
    info.add_text("prompt", (text or "")[:500])
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def render_video(source: Image.Image, seed: int, *, seconds: int = 5, fps: int = 8,
                 container: str | None = None) -> tuple[bytes, str]:
    """A real video animating the source image (slow zoom, a moving bar, the emulated label).

    Returns (bytes, extension). An H.264 MP4, as Bria returns and browsers play, when PyAV is
    installed (`pip install 'bria-pipeline[sandbox-video]'`); otherwise an animated WebP written
    by Pillow, which browsers play inline as an image (an animated GIF where Pillow has no WebP).
    `container` forces one ("mp4", "webp", "gif", or "avi": an MJPEG AVI, as earlier releases made).
    """
    if container is None:
        container = "mp4" if _pyav() is not None else "webp" if features.check("webp") else "gif"
    base = source.convert("RGB")
    base.thumbnail((LONG_SIDE, LONG_SIDE))
    width, height = base.width - base.width % 2, base.height - base.height % 2
    base = base.crop((0, 0, width, height))
    digest = hashlib.sha256(f"{seed}".encode()).digest()
    bar_colour = (digest[0], digest[1], digest[2])
    frames = []
    total = seconds * fps
    for index in range(total):
        t = index / max(1, total - 1)
        zoom = 1.0 + 0.15 * t
        cw, ch = width / zoom, height / zoom
        left, top = (width - cw) / 2, (height - ch) / 2
        frame = base.resize((width, height), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))
        draw = ImageDraw.Draw(frame)
        x = round(t * (width - 20))
        draw.rectangle((x, height - 28, x + 20, height - 18), fill=bar_colour)
        draw.rectangle((0, height - 14, width, height), fill=(0, 0, 0))
        draw.text((3, height - 13), LABEL, fill=(255, 210, 0), font=_font(9))
        frames.append(frame)
    if container == "mp4":
        return h264_mp4(frames, fps), "mp4"
    if container in ("webp", "gif"):
        out = io.BytesIO()
        options = {"quality": 70, "method": 0} if container == "webp" else {"optimize": False}
        frames[0].save(out, format=container.upper(), save_all=True, append_images=frames[1:],
                       duration=round(1000 / fps), loop=0, **options)
        return out.getvalue(), container
    jpegs = []
    for frame in frames:
        out = io.BytesIO()
        frame.save(out, format="JPEG", quality=70)
        jpegs.append(out.getvalue())
    return mjpeg_avi(jpegs, width, height, fps), "avi"


def _pyav():
    try:
        import av
    except ImportError:
        return None
    return av


def h264_mp4(frames: list[Image.Image], fps: int) -> bytes:
    """Encode RGB frames as H.264 in an MP4 (single-threaded, so the same frames give the same bytes)."""
    av = _pyav()
    if av is None:
        raise RuntimeError("MP4 videos need PyAV: pip install 'bria-pipeline[sandbox-video]'")
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "28"}
        stream.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return fourcc + struct.pack("<I", len(payload)) + payload + pad


def _list(kind: bytes, payload: bytes) -> bytes:
    return _chunk(b"LIST", kind + payload)


def mjpeg_avi(frames: list[bytes], width: int, height: int, fps: int) -> bytes:
    """Pack JPEG frames into a RIFF AVI container (one MJPG video stream, with an idx1 index)."""
    biggest = max(len(f) for f in frames)
    avih = struct.pack("<IIIIIIIIII4I", 1_000_000 // fps, biggest * fps, 0, 0x10, len(frames), 0, 1,
                       biggest, width, height, 0, 0, 0, 0)
    strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", b"MJPG", 0, 0, 0, 0, 1, fps, 0, len(frames),
                       biggest, 0xFFFFFFFF, 0, 0, 0, width, height)
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    hdrl = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    movi_payload = bytearray()
    index = bytearray()
    for frame in frames:
        offset = 4 + len(movi_payload)
        movi_payload += _chunk(b"00dc", frame)
        index += struct.pack("<4sIII", b"00dc", 0x10, offset, len(frame))
    body = b"AVI " + hdrl + _list(b"movi", bytes(movi_payload)) + _chunk(b"idx1", bytes(index))
    return b"RIFF" + struct.pack("<I", len(body)) + body
