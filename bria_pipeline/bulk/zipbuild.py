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

The standard library's `zipfile` writes the records. The output is a seekable file, so each
member's local header is rewritten with its CRC-32 and sizes once copied (no trailing data
descriptors, which some unzippers refuse for stored members), and Zip64 records appear only where
sizes or offsets need them (archives over 4 GiB). Each file is hashed while it is copied and
checked against the content hash the spec layer recorded, so a member's name never lies.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO

from ..atomic import atomic_writer
from ..model import ImageSource
from .errors import ZipBuildError

CHUNK_SIZE = 1 << 20  # bytes read from an image and written at a time

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can carry
_MADE_ON_UNIX = 3  # "made by" the same system wherever the zip is built
_REGULAR_FILE = 0o100644  # a regular file, rw-r--r--


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


def build_zip(images: Iterable[ImageSource], dest_path: str | os.PathLike[str]) -> DatasetZip:
    """Write the dataset zip for `images` to `dest_path` (atomically) and describe it.

    The same images always give the same bytes. Raises ZipBuildError (and leaves no file) if a
    file's content no longer matches its recorded hash or size.
    """
    members = zip_members(images)
    dest = Path(dest_path)
    with atomic_writer(dest) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=_FIXED_DATE)
            info.create_system = _MADE_ON_UNIX
            info.external_attr = _REGULAR_FILE << 16
            info.file_size = m.size  # lets zipfile decide on Zip64 records before the header is written
            with archive.open(info, "w") as member:
                _copy_checked(m, member)
    digest, size = _file_digest(dest)
    return DatasetZip(dest, digest, size, len(members), members)


def _copy_checked(m: ZipMember, out: IO[bytes]) -> None:
    sha = hashlib.sha256()
    size = 0
    try:
        with open(m.path, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except OSError as exc:
        raise ZipBuildError(
            f"cannot read {m.path}: {exc.strerror or exc}",
            key=m.keys[0],
            hint="the file was moved or deleted after the spec was validated; restore it or run again",
        ) from None
    if size != m.size or sha.hexdigest() != m.sha256:
        raise ZipBuildError(
            "its content changed after the spec was validated (the content hash differs)",
            key=m.keys[0],
            hint="run again so the new content is hashed and named",
        )


def _file_digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size
