"""The cheap whole-stream check of images: every truncation is caught, sound files pass.

JPEGs are not decoded (a marker walk to EOI), PNGs are checked chunk by chunk (CRC-32 up to
IEND). These tests hold that check to what a full decode would say on the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bria_pipeline.spec.image_facts import inspect_file
from bria_pipeline.spec.jpeg_stream import jpeg_problem
from spec_helpers import photo_jpeg, png_bytes


def full_decode_fails(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception:  # noqa: BLE001
        return True
    return False


@pytest.mark.parametrize("save", [{}, {"progressive": True}, {"restart_marker_blocks": 4}, {"subsampling": 0}],
                         ids=["baseline", "progressive", "restart-markers", "4:4:4"])
def test_sound_jpegs_pass_and_every_truncation_is_caught(save: dict) -> None:
    data = photo_jpeg(640, 480, seed=3, **save)
    assert jpeg_problem(data) is None
    assert jpeg_problem(data + b"trailing bytes after EOI, as some cameras write") is None
    for cut in range(2, len(data) - 1, max(1, len(data) // 97)):
        assert jpeg_problem(data[:cut]) is not None, f"cut at {cut} of {len(data)} passed"
    assert jpeg_problem(data[:-1]) is not None and jpeg_problem(data[:-2]) is not None


def test_what_a_full_decode_refuses_the_stream_check_refuses_too() -> None:
    data = photo_jpeg(640, 480, seed=4)
    size = len(data)
    damaged = {
        "truncated": data[: size // 2],
        "header bytes overwritten": data[:200] + bytes(range(256))[:150] + data[350:],
        "half of the scan gone": data[: size // 3] + data[2 * size // 3:],
        "no EOI": data[:-2],
    }
    refused_by_decoder = [name for name, bad in damaged.items() if full_decode_fails(bad)]
    assert {"truncated", "no EOI"} <= set(refused_by_decoder)
    for name in refused_by_decoder:
        assert jpeg_problem(damaged[name]) is not None, name


def test_inspection_reports_a_damaged_jpeg_and_png_and_keeps_sound_facts(tmp_path: Path) -> None:
    jpeg = photo_jpeg(1200, 1100, seed=5)
    png = png_bytes(1024, 1024, shade=6)
    files = {"ok.jpg": jpeg, "cut.jpg": jpeg[: len(jpeg) - 500], "ok.png": png, "cut.png": png[:-20]}
    bad_crc = bytearray(png)
    bad_crc[bad_crc.index(b"IDAT") + 10] ^= 0xFF
    files["flipped.png"] = bytes(bad_crc)
    facts = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        facts[name] = inspect_file(tmp_path / name)
    assert (facts["ok.jpg"].format, facts["ok.jpg"].width, facts["ok.jpg"].height, facts["ok.jpg"].problem) == ("JPEG", 1200, 1100, None)
    assert (facts["ok.png"].format, facts["ok.png"].problem) == ("PNG", None)
    for name in ("cut.jpg", "cut.png", "flipped.png"):
        assert (facts[name].problem or "").startswith("corrupt: "), (name, facts[name])
    assert facts["cut.jpg"].sha256 is not None  # still hashed: the cache remembers the verdict for this content


def test_a_multi_picture_jpeg_from_a_phone_is_a_jpeg(tmp_path: Path) -> None:
    first, second = Image.new("RGB", (1100, 1100), (200, 10, 10)), Image.new("RGB", (1100, 1100), (10, 200, 10))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])  # what Pillow calls MPO: JPEG + APP2 MPF
    (tmp_path / "portrait.jpg").write_bytes(buf.getvalue())
    facts = inspect_file(tmp_path / "portrait.jpg")
    assert (facts.format, facts.width, facts.problem) == ("JPEG", 1100, None)
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:3000])
    assert (inspect_file(tmp_path / "cut.jpg").problem or "").startswith("corrupt: ")
