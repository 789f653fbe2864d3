"""An output's file name, every rule of it. Names are relative to the output folder; a *name* has
no extension (``places/beach-dawn-seed1``), a *file* has one (``places/beach-dawn-seed1.png``).

    request_name(set, model, variables, seed)  places/beach-dawn-seed1 (places/rank-32/... for a sweep member)
    in_model_folder(name, model)               places/lucy-lora/beach-dawn-seed1: a set made with several models
    video_name(name)                           videos/beach-wave
    short_key(key)                             1a2b3c4d: the part of a key names and addresses carry
    disambiguated(name, key)                   places/beach-dawn-seed1-1a2b3c4d: a name two outputs would share
    file_of(name, ext)                         places/beach-dawn-seed1.png
    name_of(file)                              places/beach-dawn-seed1.png -> places/beach-dawn-seed1
    source_name(text)                          a video's `from:` as written -> the image's name
    kept_aside(file, key)                      places/beach-dawn-seed1.1a2b3c4d.png: an output replaced, kept
    retired_name(name, key)                    places/beach-dawn-seed1.1a2b3c4d: a retired output collected late
    replaced(file, sha256)                     places/beach-dawn-seed1.replaced-9f8e7d6c.png: a file that is not
                                               the recorded output (edited by hand, or unknown), kept beside it
    thumbnail_name(sha256)                     .thumbs/<sha20>.jpg: the gallery's thumbnail of a file
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

VIDEO_DIR = "videos"
THUMB_DIR = ".thumbs"  # the gallery's thumbnails, beside the outputs
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")


def slug(text: str) -> str:
    """Lower-case, ASCII letters/digits and single dashes: ``"Beach at Dawn!"`` -> ``beach-at-dawn``."""
    out = []
    prev_dash = False
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
            prev_dash = False
        elif not prev_dash and out:
            out.append("-")
            prev_dash = True
    return "".join(out).strip("-")[:60]


def request_name(set_name: str, model: str, variables: Iterable[tuple[str, Any]], seed: int) -> str:
    """``places/beach-dawn-seed1``: readable and deterministic.

    A request for a member of a training sweep gets the member's variables as a folder, so the
    same prompt per member stays apart: ``places/rank-32/beach-dawn-seed1``.
    """
    parts = [slug(str(v)) for _, v in variables]
    name = "-".join(p for p in parts if p)
    member = slug(model.partition("[")[2].rstrip("]"))
    folder = f"{slug(set_name)}/{member + '/' if member else ''}"
    return f"{folder}{name + '-' if name else ''}seed{seed}"


def in_model_folder(name: str, model: str) -> str:
    head, tail = name.split("/", 1)
    return f"{head}/{slug(model) or 'model'}/{tail}"


def video_name(name: str) -> str:
    return f"{VIDEO_DIR}/{slug(name) or 'video'}"


def short_key(key: str) -> str:
    """The first 8 characters of an output's key: enough to tell two outputs of one name apart."""
    return key[:8]


def disambiguated(name: str, key: str) -> str:
    return f"{name}-{short_key(key)}"


def file_of(name: str, ext: str) -> str:
    return f"{name}.{ext.lstrip('.')}"


def name_of(file: str) -> str:
    p = PurePosixPath(file)
    return str(p.with_suffix("")) if p.suffix else file


def source_name(text: str) -> str:
    """``places/beach-dawn-seed1.png`` or ``/places/beach-dawn-seed1`` -> ``places/beach-dawn-seed1``."""
    text = text.strip().strip("/")
    head, dot, ext = text.rpartition(".")
    return head if dot and ext.lower() in IMAGE_EXTENSIONS else text


def kept_aside(file: str, key: str) -> str:
    p = PurePosixPath(file)
    return str(p.with_name(f"{p.stem}.{short_key(key)}{p.suffix}"))


def retired_name(name: str, key: str) -> str:
    return f"{name}.{short_key(key)}"


def replaced(file: str, sha256: str) -> str:
    p = PurePosixPath(file)
    return str(p.with_name(f"{p.stem}.replaced-{sha256[:8]}{p.suffix}"))


def thumbnail_name(sha256: str) -> str:
    """Where the gallery's thumbnail of content `sha256` lives: ``.thumbs/<sha20>.jpg``."""
    return f"{THUMB_DIR}/{sha256[:20]}.jpg"
