"""The zip an advanced dataset is bulk-uploaded from, built from local images as a stream.

What makes it fit for a content-addressed staging object:

- members are the images' remote names (``pose-01.3fa2c1d9e0b7.png``, carrying the content hash),
  in sorted order, whatever order the spec lists the files in;
- every member has the same fixed timestamp (1980-01-01 00:00), permissions and "made by" fields,
  and the archive has no comment, so the same images give a byte-identical zip: its sha256 then
  names the staged object, and staging it twice finds it already there;
- members are stored, not deflated: PNG, JPEG and WEBP are compressed already, and the service
  unpacks faster;
- bytes flow in chunks from each file to the output; memory is one chunk plus one small record per
  member, whatever the images weigh.

Each member's local header carries its CRC-32 and sizes (no trailing data descriptors, which some
unzippers refuse for stored members). To know the CRC before the header, each file is read twice
in a row: once to check it still has the content hash the spec layer recorded (so the name does
not lie) and take its CRC, then again, straight from the page cache, to copy it. Zip64 records are
written only where sizes or offsets need them (archives over 4 GiB).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..atomic import atomic_writer
from ..model import ImageSource
from .errors import ZipBuildError

CHUNK_SIZE = 1 << 20  # bytes read from an image and yielded at a time

_DOS_TIME = 0  # 00:00:00
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01, the earliest date a zip can carry
_VERSION = 20  # 2.0: stored members
_VERSION_ZIP64 = 45  # 4.5: zip64 extensions
_MADE_BY_UNIX = 3 << 8
_EXTERNAL_ATTR = (0o100644 & 0xFFFF) << 16  # a regular file, rw-r--r--
_FLAG_UTF8 = 0x0800
_LIMIT32 = 0xFFFFFFFF  # the value a 32-bit field holds when the real one is in a zip64 record
_LIMIT16 = 0xFFFF
_ZIP64_FROM = _LIMIT32  # sizes and offsets from here on go into zip64 records

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")


@dataclass(frozen=True)
class ZipMember:
    """One file in the zip. `keys` are the spec's names of every file with this content."""

    name: str
    path: Path
    size: int
    sha256: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class DatasetZip:
    """A built zip: where it is, its content hash and size, and what is in it.

    (Named apart from the standard library's ``zipfile.ZipInfo``, which describes one member.)
    """

    path: Path
    sha256: str
    size: int
    count: int
    members: tuple[ZipMember, ...] = field(default=(), compare=False, repr=False)

    @property
    def object_name(self) -> str:
        """The staged object's name: the zip's content hash, so equal zips share one object."""
        return object_name(self.sha256)

    @cached_property
    def keys_by_name(self) -> dict[str, tuple[str, ...]]:
        """Member name -> the spec's names of the files behind it."""
        return {m.name: m.keys for m in self.members}


def object_name(sha256: str) -> str:
    return f"bria-dataset-{sha256[:32]}.zip"


def zip_members(images: Iterable[ImageSource]) -> tuple[ZipMember, ...]:
    """The members for these images, sorted by remote name; identical files appear once.

    Raises ZipBuildError for an image that is not a readable local file, or for two different
    files that would get the same member name.
    """
    by_name: dict[str, ZipMember] = {}
    for image in images:
        if image.path is None:
            raise ZipBuildError(
                "an advanced dataset is uploaded as one zip of local files, and this image is a URL",
                key=image.key,
                hint="download it into the spec's directory and list the file, or give the dataset a ready zip_url",
            )
        try:
            size = os.stat(image.path).st_size
        except OSError as exc:
            raise ZipBuildError(
                f"cannot read {image.path}: {exc.strerror or exc}",
                key=image.key,
                hint="the file was moved or deleted after the spec was validated; restore it or run again",
            ) from None
        name = image.remote_name
        seen = by_name.get(name)
        if seen is None:
            by_name[name] = ZipMember(name, Path(image.path), size, image.sha256, (image.key,))
        elif seen.sha256 == image.sha256:
            by_name[name] = ZipMember(name, seen.path, seen.size, seen.sha256, seen.keys + (image.key,))
        else:
            raise ZipBuildError(
                f"would be stored as {name!r}, the same name as {seen.keys[0]!r}, with different content",
                key=image.key,
                hint="rename one of the two files",
            )
    return tuple(by_name[n] for n in sorted(by_name))


def iter_zip(members: Iterable[ZipMember], *, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The zip's bytes, in chunks of at most `chunk_size` (headers come as their own small chunks).

    The same members always give the same bytes. Raises ZipBuildError if a file's content no
    longer matches its recorded hash or size.
    """
    offset = 0
    central: list[bytes] = []
    count = 0
    for m in members:
        crc = _check_and_crc(m, chunk_size)
        header = _local_header(m, crc)
        yield header
        copied = 0
        copy_crc = 0
        for chunk in _read_chunks(m, chunk_size):
            copied += len(chunk)
            copy_crc = zlib.crc32(chunk, copy_crc)
            yield chunk
        if copied != m.size or copy_crc != crc:
            raise ZipBuildError(
                "changed while it was being zipped",
                key=m.keys[0],
                hint="let whatever writes the file finish, then run again",
            )
        central.append(_central_header(m, crc, offset))
        offset += len(header) + m.size
        count += 1
    cd_offset = offset
    cd_size = 0
    for record in central:
        cd_size += len(record)
        yield record
    yield _end_records(count, cd_offset, cd_size)


def build_zip(images: Iterable[ImageSource], dest_path: str | os.PathLike[str]) -> DatasetZip:
    """Write the dataset zip for `images` to `dest_path` (atomically) and describe it."""
    members = zip_members(images)
    dest = Path(dest_path)
    digest = hashlib.sha256()
    size = 0
    with atomic_writer(dest) as out:
        for chunk in iter_zip(members):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return DatasetZip(dest, digest.hexdigest(), size, len(members), members)


def _read_chunks(m: ZipMember, chunk_size: int) -> Iterator[bytes]:
    try:
        with open(m.path, "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk
    except OSError as exc:
        raise ZipBuildError(
            f"cannot read {m.path}: {exc.strerror or exc}",
            key=m.keys[0],
            hint="the file was moved or deleted after the spec was validated; restore it or run again",
        ) from None


def _check_and_crc(m: ZipMember, chunk_size: int) -> int:
    sha = hashlib.sha256()
    crc = 0
    size = 0
    for chunk in _read_chunks(m, chunk_size):
        sha.update(chunk)
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
    if size != m.size or sha.hexdigest() != m.sha256:
        raise ZipBuildError(
            "its content changed after the spec was validated (the content hash differs)",
            key=m.keys[0],
            hint="run again so the new content is hashed and named",
        )
    return crc


def _name_fields(name: str) -> tuple[bytes, int]:
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), _FLAG_UTF8


def _local_header(m: ZipMember, crc: int) -> bytes:
    raw, flags = _name_fields(m.name)
    if m.size >= _ZIP64_FROM:
        extra = struct.pack("<HHQQ", 1, 16, m.size, m.size)
        return _LOCAL.pack(
            0x04034B50, _VERSION_ZIP64, flags, 0, _DOS_TIME, _DOS_DATE, crc, _LIMIT32, _LIMIT32, len(raw), len(extra)
        ) + raw + extra
    return _LOCAL.pack(0x04034B50, _VERSION, flags, 0, _DOS_TIME, _DOS_DATE, crc, m.size, m.size, len(raw), 0) + raw


def _central_header(m: ZipMember, crc: int, offset: int) -> bytes:
    raw, flags = _name_fields(m.name)
    fields: list[int] = []
    size32 = m.size
    offset32 = offset
    if m.size >= _ZIP64_FROM:
        fields += [m.size, m.size]
        size32 = _LIMIT32
    if offset >= _ZIP64_FROM:
        fields.append(offset)
        offset32 = _LIMIT32
    extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
    version = _VERSION_ZIP64 if fields else _VERSION
    return _CENTRAL.pack(
        0x02014B50,
        _MADE_BY_UNIX | version,
        version,
        flags,
        0,
        _DOS_TIME,
        _DOS_DATE,
        crc,
        size32,
        size32,
        len(raw),
        len(extra),
        0,
        0,
        0,
        _EXTERNAL_ATTR,
        offset32,
    ) + raw + extra


def _end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    if count < _LIMIT16 and cd_offset < _ZIP64_FROM and cd_size < _ZIP64_FROM:
        return _END.pack(0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0)
    end64_offset = cd_offset + cd_size
    end64 = _END64.pack(
        0x06064B50, _END64.size - 12, _MADE_BY_UNIX | _VERSION_ZIP64, _VERSION_ZIP64, 0, 0, count, count, cd_size, cd_offset
    )
    locator = _LOCATOR64.pack(0x07064B50, 0, end64_offset, 1)
    end = _END.pack(
        0x06054B50, 0, 0, min(count, _LIMIT16), min(count, _LIMIT16), _LIMIT32, _LIMIT32, 0
    )
    return end64 + locator + end
