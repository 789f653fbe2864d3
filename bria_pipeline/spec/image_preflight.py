"""Image sources of a spec -> `ImageSource`s, every local file checked before any request.

Per file: it exists and may be read (see local_files), its content is JPEG, PNG or WEBP
whatever its extension says, it is at least 1024x1024 (256x256 when the service may upscale
it: `increase_resolution: true`), at most 12 MB, and decodes completely. Within one list,
the same file twice and two files with the same content are reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bria_pipeline.model import ImageSource
from bria_pipeline.spec.context import BuildContext
from bria_pipeline.spec.image_facts import ACCEPTED_FORMATS, MAX_IMAGE_BYTES, MAX_PIXELS, CacheStats, ImageFacts, inspect_images
from bria_pipeline.spec.local_files import LocalFile, LocateError, locate
from bria_pipeline.spec.problems import SpecPath

MIN_SIDE = 1024
MIN_SIDE_UPSCALED = 256
_EXTENSIONS = {"JPEG": {".jpg", ".jpeg"}, "PNG": {".png"}, "WEBP": {".webp"}}


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass
class PendingImage:
    """A file or URL a source named, before its facts are known."""

    key: str
    at: SpecPath  # where the source was written
    local: LocalFile | None = None
    url: str | None = None
    increase_resolution: bool = False
    content_moderation: bool = False


class ImagePreflight:
    """Resolves sources first, inspects every local file in one concurrent pass, then checks."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.files: list[Path] = []
        self.facts: dict[Path, ImageFacts] = {}
        self.stats = CacheStats()
        self.unresolved: list[SpecPath] = []  # sources that named no file (reported once, there)

    def resolved(self, at: SpecPath) -> bool:
        """False when a source at or under `at` named no file: what depends on it is not reported again."""
        return not any(u[: len(at)] == at for u in self.unresolved)

    # -- resolving ---------------------------------------------------------------------------
    def _locate(self, at: SpecPath, pattern: str, exclude: tuple[str, ...] = ()) -> list[LocalFile]:
        try:
            found, refused = locate(pattern, self.ctx.spec_dir, allow_outside=self.ctx.allow_outside, exclude=exclude)
        except LocateError as exc:
            self.ctx.error(at, str(exc), exc.hint)
            self.unresolved.append(at)
            return []
        for refusal in refused:
            self.ctx.error(at, str(refusal), refusal.hint)
        if not found and not refused:
            self.ctx.error(at, f"every file matching {pattern!r} is excluded", "check the exclude globs")
        self.files.extend(f.real for f in found)
        return found

    def sources(self, at: SpecPath, items: list[Any], increase_resolution: bool, content_moderation: bool) -> list[PendingImage]:
        """A dataset's `images:` list."""
        out: list[PendingImage] = []
        for i, item in enumerate(items):
            here = at + (i,)
            if isinstance(item, str):
                item = {"url": item} if is_url(item) else {"path": item}
                spot = here
            else:
                spot = here + ("path",) if "path" in item else here + ("url",)
            upscale = item.get("increase_resolution", increase_resolution)
            moderate = item.get("content_moderation", content_moderation)
            if "url" in item:
                out.append(PendingImage(item["url"], spot, url=item["url"], increase_resolution=upscale,
                                        content_moderation=moderate))
                continue
            for local in self._locate(spot, item["path"], tuple(item.get("exclude", ()))):
                out.append(PendingImage(local.key, spot, local=local, increase_resolution=upscale,
                                        content_moderation=moderate))
        return out

    def strings(self, at: SpecPath, items: list[str], increase_resolution: bool) -> list[PendingImage]:
        """A list of paths, globs or URLs (visual schema samples)."""
        out: list[PendingImage] = []
        for i, item in enumerate(items):
            if is_url(item):
                out.append(PendingImage(item, at + (i,), url=item, increase_resolution=increase_resolution))
                continue
            for local in self._locate(at + (i,), item):
                out.append(PendingImage(local.key, at + (i,), local=local, increase_resolution=increase_resolution))
        return out

    # -- inspecting ---------------------------------------------------------------------------
    def inspect(self, cache_dir: Path | None) -> None:
        self.facts, self.stats = inspect_images(self.files, cache_dir, about=str(self.ctx.spec_dir))

    # -- checking -----------------------------------------------------------------------------
    def _check_file(self, image: PendingImage, facts: ImageFacts) -> bool:
        ctx, key, at = self.ctx, image.key, image.at
        problem = facts.problem or ""
        if problem == "too-big":
            ctx.error(at, f"{key}: {facts.size / 1048576:.1f} MB is larger than the limit of {MAX_IMAGE_BYTES // 1048576} MB",
                      "re-encode it (a PNG as JPEG, or a lower JPEG quality) or scale it down")
            return False
        if problem == "not-an-image":
            ctx.error(at, f"{key}: not an image (its content is no image format Pillow knows)",
                      "training images must be JPEG, PNG or WEBP files")
            return False
        if problem == "too-many-pixels":
            ctx.error(at, f"{key}: {facts.width}x{facts.height} has more than {MAX_PIXELS:,} pixels",
                      "scale it down; 1024 to 2048 pixels a side is plenty for training")
            return False
        if problem.startswith("unreadable"):
            ctx.error(at, f"{key}: cannot be read ({problem.partition(': ')[2]})", "check the file's permissions")
            return False
        if facts.format and facts.format not in ACCEPTED_FORMATS:
            ctx.error(at, f"{key}: is a {facts.format} image (by its content); accepted formats are JPEG, PNG and WEBP",
                      "convert it, e.g. to PNG; the file name's extension does not decide the format")
            return False
        if problem.startswith("corrupt"):
            ctx.error(at, f"{key}: the image is corrupt or truncated ({problem.partition(': ')[2]})",
                      "export or download the file again")
            return False
        width, height = facts.width or 0, facts.height or 0
        if image.increase_resolution and (width < MIN_SIDE_UPSCALED or height < MIN_SIDE_UPSCALED):
            ctx.error(at, f"{key}: {width}x{height} is smaller than {MIN_SIDE_UPSCALED}x{MIN_SIDE_UPSCALED}, "
                          "the smallest image the service upscales", "use a larger image")
            return False
        if not image.increase_resolution and (width < MIN_SIDE or height < MIN_SIDE):
            ctx.error(at, f"{key}: {width}x{height} is smaller than the minimum {MIN_SIDE}x{MIN_SIDE}",
                      "use a larger image, or set increase_resolution: true on this source (or the dataset) "
                      "to let the service upscale images down to 256x256")
            return False
        suffix = PurePosixPath(key).suffix.lower()
        if facts.format in _EXTENSIONS and suffix not in _EXTENSIONS[facts.format]:
            ctx.warn(at, f"{key}: the content is {facts.format} but the name ends in '{suffix or '(nothing)'}'",
                     f"rename it to end in {sorted(_EXTENSIONS[facts.format])[0]}")
        return True

    def finish(self, pending: list[PendingImage], what: str) -> list[ImageSource]:
        """ImageSources of sound images; duplicates (by name or content) within `pending` reported."""
        out: list[ImageSource] = []
        by_key: dict[str, PendingImage] = {}
        by_hash: dict[str, PendingImage] = {}
        for image in pending:
            if image.key in by_key:
                first = by_key[image.key]
                if first.at != image.at:
                    self.ctx.error(image.at, f"{image.key}: listed twice in {what} (also by {self._where(first.at)})",
                                   "remove one of the two sources, or narrow a glob with exclude:")
                continue
            by_key[image.key] = image
            if image.url is not None:
                sha, facts = url_hash(image.url), None
            else:
                assert image.local is not None
                facts = self.facts.get(image.local.real)
                if facts is None or not self._check_file(image, facts) or not facts.sha256:
                    continue
                sha = facts.sha256
            if sha in by_hash:
                first = by_hash[sha]
                self.ctx.error(image.at, f"{image.key}: the same image as {first.key} ({self._where(first.at)})",
                               "remove one of them; a duplicate adds nothing to training and skews the dataset")
                continue
            by_hash[sha] = image
            out.append(
                ImageSource(
                    key=image.key,
                    sha256=sha,
                    path=image.local.real if image.local else None,
                    url=image.url,
                    increase_resolution=image.increase_resolution,
                    content_moderation=image.content_moderation,
                    width=facts.width if facts else None,
                    height=facts.height if facts else None,
                    size=facts.size if facts else None,
                    mark=self.ctx.mark(image.at),
                )
            )
        return out

    def _where(self, at: SpecPath) -> str:
        line, _ = self.ctx.doc.position(at)
        return f"line {line}"
