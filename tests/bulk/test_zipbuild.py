"""The dataset zip: deterministic, content-named members, stored, streamed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from bria_pipeline.bulk import zipbuild
from bria_pipeline.bulk.errors import ZipBuildError
from bria_pipeline.bulk.zipbuild import build_zip, zip_members
from bria_pipeline.model import ImageSource


def test_same_images_give_a_byte_identical_zip_whatever_their_mtimes(tmp_path, random_images):
    images = random_images(12)
    first = build_zip(images, tmp_path / "a.zip")
    for image in images:
        os.utime(image.path, (1_700_000_000, 1_700_000_000))
    second = build_zip(images, tmp_path / "b.zip")
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert first.sha256 == hashlib.sha256((tmp_path / "a.zip").read_bytes()).hexdigest()
    assert first.size == (tmp_path / "a.zip").stat().st_size
    assert first.count == 12


def test_order_of_images_in_the_spec_does_not_change_the_zip(tmp_path, random_images):
    images = random_images(20)
    forward = build_zip(images, tmp_path / "forward.zip")
    backward = build_zip(list(reversed(images)), tmp_path / "backward.zip")
    shuffled = build_zip(images[7:] + images[:7], tmp_path / "shuffled.zip")
    assert forward.sha256 == backward.sha256 == shuffled.sha256


def test_different_images_give_a_different_zip_name(tmp_path, random_images):
    images = random_images(6)
    one = build_zip(images[:5], tmp_path / "one.zip")
    two = build_zip(images[1:], tmp_path / "two.zip")
    assert one.object_name != two.object_name
    assert one.object_name == f"bria-dataset-{one.sha256[:32]}.zip"


def test_members_are_remote_names_sorted_stored_with_fixed_time_and_original_bytes(tmp_path, random_images):
    images = random_images(8, size=10_000, prefix="z") + random_images(3, size=5_000, prefix="a")
    built = build_zip(images, tmp_path / "d.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
        assert [i.filename for i in infos] == sorted(img.remote_name for img in images)
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.flag_bits & 0x08 == 0  # sizes in the local header, no data descriptor
        by_name = {img.remote_name: img for img in images}
        for info in infos:
            assert zf.read(info) == by_name[info.filename].path.read_bytes()
    assert built.keys_by_name[images[0].remote_name] == (images[0].key,)


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
def test_zip_passes_the_unzip_integrity_check(tmp_path, random_images):
    built = build_zip(random_images(5), tmp_path / "d.zip")
    result = subprocess.run(["unzip", "-t", str(built.path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


def test_files_larger_than_one_chunk_are_copied_whole(tmp_path, random_images):
    images = random_images(3, size=3 * zipbuild.CHUNK_SIZE // 2)
    built = build_zip(images, tmp_path / "d.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.testzip() is None
        assert [zf.read(i.remote_name) for i in images] == [i.path.read_bytes() for i in images]


def test_zipping_200_files_of_200_kb_uses_memory_far_below_their_size(tmp_path, random_images):
    images = random_images(200, size=200_000)
    total = sum(i.size for i in images)
    tracemalloc.start()
    try:
        built = build_zip(images, tmp_path / "big.zip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert built.size > total
    assert peak < total / 10, f"peak {peak} bytes while zipping {total} bytes"
    assert peak < 4 * zipbuild.CHUNK_SIZE


def test_identical_files_under_two_names_are_stored_once_and_map_back_to_both(tmp_path, make_image):
    data = os.urandom(2048)
    a = make_image("left/pose.png", data)
    b = make_image("right/pose.png", data)
    built = build_zip([b, a], tmp_path / "d.zip")
    assert built.count == 1
    assert built.keys_by_name[a.remote_name] == ("right/pose.png", "left/pose.png")


def test_two_different_files_with_one_member_name_are_refused(make_image):
    a = make_image("left/pose.png", b"one")
    b = make_image("right/pose.png", b"two")
    a = replace(a, sha256="ab" * 32)
    b = replace(b, sha256="ab" * 6 + "cd" * 26)
    with pytest.raises(ZipBuildError) as err:
        zip_members([a, b])
    assert "right/pose.png" in err.value.describe()
    assert "rename" in err.value.describe()


def test_a_url_image_is_refused_with_a_hint(tmp_path):
    url = ImageSource(key="https://cdn.example.com/x.png", sha256="0" * 64, url="https://cdn.example.com/x.png")
    with pytest.raises(ZipBuildError) as err:
        build_zip([url], tmp_path / "d.zip")
    assert err.value.key == "https://cdn.example.com/x.png"
    assert "zip_url" in err.value.describe()


def test_a_file_changed_after_validation_is_refused_and_no_zip_is_left(tmp_path, random_images):
    images = random_images(3)
    images[1].path.write_bytes(b"edited since the spec was checked")
    dest = tmp_path / "out" / "d.zip"
    with pytest.raises(ZipBuildError) as err:
        build_zip(images, dest)
    assert err.value.key == images[1].key
    assert "changed" in err.value.message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_a_missing_file_is_reported_by_its_spec_name(tmp_path, random_images):
    images = random_images(2)
    images[0].path.unlink()
    with pytest.raises(ZipBuildError) as err:
        build_zip(images, tmp_path / "d.zip")
    assert err.value.key == images[0].key


def test_zip64_records_are_written_when_offsets_pass_the_limit(tmp_path, random_images, monkeypatch):
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 10_000)  # as if the archive passed 4 GiB
    images = random_images(5, size=4096)
    built = build_zip(images, tmp_path / "d.zip")
    raw = built.path.read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw  # zip64 end record and locator
    with zipfile.ZipFile(built.path) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == sorted(i.remote_name for i in images)
        assert [zf.read(i.remote_name) for i in images] == [i.path.read_bytes() for i in images]
    if shutil.which("unzip"):
        result = subprocess.run(["unzip", "-t", str(built.path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr


def test_non_ascii_names_are_flagged_utf8(tmp_path, make_image):
    img = make_image("images/café.png", os.urandom(100))
    built = build_zip([img], tmp_path / "d.zip")
    with zipfile.ZipFile(built.path) as zf:
        (info,) = zf.infolist()
        assert info.filename == img.remote_name
        assert info.flag_bits & 0x800


def test_the_zip_bytes_are_the_same_as_earlier_releases_built(make_image):
    # staged objects are named by the zip's sha256: a change of bytes would stage every dataset again
    images = [make_image(name, bytes(range(256)) * (i + 3))
              for i, name in enumerate(["images/b.png", "images/a.jpg", "images/café.webp"])]
    built = build_zip(images, images[0].path.parent / "d.zip")
    assert built.sha256 == "431f2e5fec621337a5e6dd8e31b9e92e7aaacfd464bd93f726d04bdbf71154e0"
