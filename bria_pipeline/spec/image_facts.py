"""What a local image file is: content hash, format by content, size in pixels, soundness.

Reading 5,000 images takes a while, so facts are cached in the user's cache directory (see
`default_cache_dir`: never in the repository the spec lives in), one file per spec directory,
keyed by absolute path and checked against the file's size, mtime_ns, inode and ctime_ns: a
second validation stats each file and reads none that did not change. A file rewritten with its
old size and modification time (``cp -p``, ``rsync -t``, tools that keep the date) has a new
ctime or inode, so it is read again. Files not in the cache are read concurrently (hashing and
the stream checks release the GIL). The cache is a convenience, never the authority: delete it
and the next run rebuilds it; `recheck_hashes` reads files again where a run must be sure.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..atomic import write_atomic
from .jpeg_stream import jpeg_problem

if TYPE_CHECKING:
    from PIL import Image

CACHE_FILE = "filefacts.json"
CACHE_VERSION = 2  # 2: entries carry inode and ctime_ns
CACHE_DIR_ENV = "BRIA_PIPELINE_CACHE_DIR"  # overrides where the caches go (default: the platform's user cache dir)
MAX_IMAGE_BYTES = 12 * 1024 * 1024  # the largest training image accepted (12 MB)
MAX_PIXELS = 64_000_000  # larger images are refused before decoding (decompression bombs)
ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}


@dataclass(frozen=True)
class ImageFacts:
    """Facts about one file at one (size, mtime_ns). `problem` is None for a sound image."""

    size: int
    mtime_ns: int
    sha256: str | None = None
    format: str | None = None  # Pillow's name for the content's format: PNG, JPEG, WEBP, GIF, ...
    width: int | None = None
    height: int | None = None
    problem: str | None = None  # "too-big", "not-an-image", "corrupt: ...", "too-many-pixels", "unreadable: ..."
    inode: int = 0  # with ctime_ns, tells a rewritten file that kept its size and mtime
    ctime_ns: int = 0


@dataclass
class CacheStats:
    """What one inspection cost: files answered from the cache, files read, seconds taken."""

    hits: int = 0
    misses: int = 0
    seconds: float = 0.0
    bytes_read: int = 0


def inspect_file(path: Path) -> ImageFacts:
    """Read one file: hash it and check its whole stream, without trusting its extension."""
    from PIL import Image, UnidentifiedImageError  # here: a warm cache never needs Pillow
    try:
        st = path.stat()
    except OSError as exc:
        return ImageFacts(0, 0, problem=f"unreadable: {exc.strerror or exc}")
    stamp = ImageFacts(st.st_size, st.st_mtime_ns, inode=st.st_ino, ctime_ns=st.st_ctime_ns)
    if st.st_size > MAX_IMAGE_BYTES:
        return replace(stamp, problem="too-big")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return replace(stamp, problem=f"unreadable: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    base = replace(stamp, size=len(data), sha256=digest)
    fmt = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                # an MPO (phones, stereo cameras) is a JPEG whose APP2 segment indexes more images after its EOI
                fmt, (width, height) = ("JPEG" if img.format == "MPO" else img.format), img.size
                if width * height > MAX_PIXELS:
                    return replace(base, format=fmt, width=width, height=height, problem="too-many-pixels")
                _check_stream(img, fmt, data)
    except UnidentifiedImageError:
        return replace(base, problem="not-an-image")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return replace(base, problem="too-many-pixels")
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for damaged files
        return replace(base, format=fmt, problem=f"corrupt: {exc}")
    return replace(base, format=fmt, width=width, height=height)


class DamagedImage(Exception):
    """The stream of an image is truncated or malformed."""


def _check_stream(img: "Image.Image", fmt: str | None, data: bytes) -> None:
    """Read the whole stream, as cheaply as the format allows; raise if it is not whole.

    JPEG: a walk over the markers to EOI (jpeg_stream; about 25x cheaper than decoding a photo).
    PNG: every chunk's CRC-32 up to IEND (Pillow's verify), which catches truncation and any
    changed byte without inflating the pixels. Other formats: a full decode.
    """
    if fmt == "JPEG":
        problem = jpeg_problem(data)
        if problem:
            raise DamagedImage(problem)
    elif fmt == "PNG":
        img.verify()
    else:
        img.load()


def user_cache_root() -> Path | None:
    """Where bria-pipeline keeps caches for this user: $BRIA_PIPELINE_CACHE_DIR, else the platform's
    cache directory ($XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS,
    %LOCALAPPDATA% on Windows) / bria-pipeline. None when there is no home directory to put it in
    (then nothing is cached: a shared temporary directory is no place for facts to be trusted)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "bria-pipeline" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if sys.platform not in ("win32", "darwin") and xdg and os.path.isabs(xdg):
        return Path(xdg) / "bria-pipeline"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        return None
    if sys.platform == "win32":
        return home / "AppData" / "Local" / "bria-pipeline" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "bria-pipeline"
    return home / ".cache" / "bria-pipeline"


def default_cache_dir(spec_dir: Path) -> Path | None:
    """The file-facts cache of the specs in `spec_dir`: one directory per spec directory, named by
    a hash of its absolute path, so repositories and checkouts never share (or fight over) a file."""
    root = user_cache_root()
    if root is None:
        return None
    where = os.path.abspath(spec_dir)
    return root / "filefacts" / hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:20]


@dataclass
class FileFactsCache:
    """The on-disk cache of `ImageFacts`, keyed by absolute path and checked by size, mtime_ns,
    inode and ctime_ns."""

    path: Path | None
    entries: dict[str, ImageFacts] = field(default_factory=dict)
    dirty: bool = False
    about: str | None = None  # the spec directory, written into the file for people who look

    @classmethod
    def open(cls, cache_dir: Path | None, about: str | None = None) -> "FileFactsCache":
        if cache_dir is None:
            return cls(None)
        path = Path(cache_dir) / CACHE_FILE
        cache = cls(path, about=about)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("version") == CACHE_VERSION:
                cache.entries = {k: ImageFacts(**v) for k, v in raw.get("files", {}).items()}
                cache.about = about or raw.get("spec_dir")
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # missing or unreadable: start empty, it is only a cache
        return cache

    def get(self, path: Path, st: os.stat_result) -> ImageFacts | None:
        facts = self.entries.get(str(path))
        if facts and (facts.size, facts.mtime_ns, facts.inode, facts.ctime_ns) == (
            st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns
        ):
            return facts
        return None

    def put(self, path: Path, facts: ImageFacts) -> None:
        """Remember facts (not a failure to read, which may be gone next time)."""
        if facts.problem and facts.problem.startswith("unreadable"):
            return
        self.entries[str(path)] = facts
        self.dirty = True

    def forget(self, path: Path) -> None:
        if self.entries.pop(str(path), None) is not None:
            self.dirty = True

    def save(self) -> None:
        """Atomic write (temp file, fsync, rename); a cache that cannot be written is skipped."""
        if self.path is None or not self.dirty:
            return
        payload = {"version": CACHE_VERSION, "spec_dir": self.about,
                   "files": {k: asdict(v) for k, v in sorted(self.entries.items())}}
        try:
            write_atomic(self.path, json.dumps(payload, separators=(",", ":")).encode("utf-8"))
            self.dirty = False
        except OSError:
            pass


def _file_sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


# Files this process has itself read and hashed (not taken from the cache): path -> (stamp, sha256).
# A recheck skips them while their stamp is unchanged: they were read, not believed.
_READ_HERE: dict[str, tuple[tuple[int, int, int, int], str]] = {}


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _read_in_this_process(path: Path, expected: str) -> bool:
    seen = _READ_HERE.get(str(path))
    try:
        return seen is not None and seen == (_stamp(path.stat()), expected)
    except OSError:
        return False


def recheck_hashes(files: Iterable[tuple[Path, str]], cache_dir: Path | None) -> list[Path]:
    """Hash each (path, expected sha256) again, from the file, never the cache.

    Files this process read itself since (validation with a cold cache) are not read twice.
    Returns the paths whose content is not what was expected (or that cannot be read), and
    drops their cached facts so the next validation reads them afresh.
    """
    pairs = [(path, expected) for path, expected in files if not _read_in_this_process(path, expected)]
    with ThreadPoolExecutor(max_workers=min(default_workers(), max(1, len(pairs))), thread_name_prefix="recheck") as pool:
        actual = list(pool.map(_file_sha256, (path for path, _ in pairs)))
    wrong = [path for (path, expected), found in zip(pairs, actual) if found != expected]
    if wrong:
        cache = FileFactsCache.open(cache_dir)
        for path in wrong:
            cache.forget(path)
        cache.save()
    return wrong


def default_workers() -> int:
    return max(2, min(16, (os.cpu_count() or 2) * 2))


def inspect_images(
    paths: Iterable[Path], cache_dir: Path | None, *, workers: int | None = None, about: str | None = None
) -> tuple[dict[Path, ImageFacts], CacheStats]:
    """Facts for every path (resolved, absolute), from the cache where the file is unchanged."""
    started = time.perf_counter()
    stats = CacheStats()
    cache = FileFactsCache.open(cache_dir, about=about)
    facts: dict[Path, ImageFacts] = {}
    todo: list[Path] = []
    for path in dict.fromkeys(paths):
        try:
            st = path.stat()
        except OSError as exc:
            facts[path] = ImageFacts(0, 0, problem=f"unreadable: {exc.strerror or exc}")
            continue
        hit = cache.get(path, st)
        if hit is not None:
            facts[path] = hit
            stats.hits += 1
        else:
            todo.append(path)
    if todo:
        count = min(workers or default_workers(), len(todo))
        if count > 1:
            with ThreadPoolExecutor(max_workers=count, thread_name_prefix="filefacts") as pool:
                results = list(pool.map(inspect_file, todo))
        else:
            results = [inspect_file(p) for p in todo]
        for path, result in zip(todo, results):
            facts[path] = result
            cache.put(path, result)
            if result.sha256:
                _READ_HERE[str(path)] = ((result.size, result.mtime_ns, result.inode, result.ctime_ns), result.sha256)
            stats.misses += 1
            stats.bytes_read += result.size if result.sha256 else 0
        cache.save()
    stats.seconds = time.perf_counter() - started
    return facts, stats
