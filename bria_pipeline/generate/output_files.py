"""Putting a downloaded output in place: check it, name it by its content type, never clobber.

The bytes are checked before anything on disk changes (an image must decode; a video must look
like one), written under a hidden temp name, fsynced and renamed: a file at its final name is
always whole. Whatever held that name before is moved aside, never overwritten: an output the
plan replaced goes where the plan said (``<name>.<key8>.<ext>``); any other different file
there (edited by hand, or unknown to the manifest) becomes ``<name>.replaced-<sha8>.<ext>``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from bria_pipeline.atomic import write_atomic
from bria_pipeline.generate.errors import GenerationError, OutputPathError
from bria_pipeline.output_names import file_of, replaced
from bria_pipeline.state.hashing import sha256_bytes, sha256_file


class InvalidDownload(GenerationError):
    """The downloaded bytes are not the image or video they should be."""


def sniff_extension(data: bytes, kind: str) -> str | None:
    """The file extension the content calls for, from its first bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def check_download(data: bytes, kind: str, url_hint: str = "") -> str:
    """Verify `data` is a whole image (decodes) or video; returns its extension."""
    if not data:
        raise InvalidDownload(f"the {kind} downloaded from the result URL is empty")
    ext = sniff_extension(data, kind)
    if kind == "image":
        if ext not in ("png", "jpg", "webp", "gif"):
            raise InvalidDownload(f"the downloaded image is not PNG, JPEG or WebP ({len(data)} bytes)")
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()  # decodes every pixel: a truncated file fails here
        except (OSError, UnidentifiedImageError, SyntaxError) as exc:
            raise InvalidDownload(f"the downloaded image does not decode: {exc}") from None
        return ext
    if ext is None:
        suffix = PurePosixPath(url_hint.split("?", 1)[0]).suffix.lstrip(".").lower()
        ext = suffix if suffix in ("mp4", "webm", "mov", "avi") else "mp4"
    return ext


def inside(output_dir: Path, relative: str) -> Path:
    """`output_dir / relative`, refusing names that would leave output_dir."""
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise OutputPathError(f"output name {relative!r} leaves the output directory")
    return output_dir.joinpath(*path.parts)


@dataclass(frozen=True)
class Placed:
    file: str  # relative, POSIX
    sha256: str
    moved_aside: tuple[tuple[str, str], ...] = ()  # (old name, new name) of unrecorded files


def move_aside(output_dir: Path, relative: str, target: str | None) -> None:
    """Move a file out of the way (`target` None: delete it)."""
    path = inside(output_dir, relative)
    if not path.exists():
        return
    if target is None:
        path.unlink()
        return
    destination = inside(output_dir, target)
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, destination)


def place(output_dir: Path, name: str, ext: str, data: bytes) -> Placed:
    """Write `data` as ``<name>.<ext>``. A different file already there (edited by hand, or
    unknown to the manifest) is moved aside first. Returns the relative name and the sha256."""
    relative = file_of(name, ext)
    final = inside(output_dir, relative)
    sha = sha256_bytes(data)
    aside: list[tuple[str, str]] = []
    if final.is_file():
        existing = sha256_file(final)
        if existing != sha:
            target = replaced(relative, existing)
            move_aside(output_dir, relative, target)
            aside.append((relative, target))
    write_atomic(final, data)
    return Placed(relative, sha, tuple(aside))


def remove_emptied(output_dir: Path, folder: Path) -> None:
    """Folders under the output directory left empty by a deletion or a move go too (``outputs/places/``)."""
    root = output_dir.resolve()
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            return
        folder = folder.parent
