"""Child process of the benchmark: build and stage one dataset zip, report peak RSS as JSON.

    python benchmarks/zip_rss.py IMAGES_DIR WORK_DIR SANDBOX_URL

Run in its own process so `resource.getrusage` measures this work alone: the peak resident set
after the imports (the baseline) and after building and staging the zip.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

import httpx

from bria_pipeline.bulk.staging import SandboxStagingTarget
from bria_pipeline.bulk.zipbuild import build_zip
from bria_pipeline.model import ImageSource


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, counting the PUT requests that go through it."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.puts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.puts += request.method == "PUT"
        return await self.inner.handle_async_request(request)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main(images_dir: str, work_dir: str, sandbox_url: str) -> None:
    baseline = peak_rss_mb()
    root = Path(images_dir)
    images = [
        ImageSource(key=str(p.relative_to(root.parent)), sha256=file_sha256(p), path=p, size=p.stat().st_size)
        for p in sorted(root.glob("*.png"))
    ]
    after_hash = peak_rss_mb()
    started = time.perf_counter()
    built = build_zip(images, Path(work_dir) / "dataset.zip")
    built_at = time.perf_counter()
    wire = CountingTransport()
    target = SandboxStagingTarget(sandbox_url, transport=wire)
    url = asyncio.run(target.stage(built.path, built.object_name))
    staged_at = time.perf_counter()
    first_puts = wire.puts
    again = asyncio.run(target.stage(built.path, built.object_name))
    json.dump(
        {
            "images": len(images),
            "image_bytes": sum(i.size or 0 for i in images),
            "zip_bytes": built.size,
            "zip_sha256": built.sha256,
            "url": url,
            "restage_same_url": again == url,
            "puts_first_stage": first_puts,
            "puts_second_stage": wire.puts - first_puts,
            "build_seconds": built_at - started,
            "stage_seconds": staged_at - built_at,
            "baseline_rss_mb": baseline,
            "after_hash_rss_mb": after_hash,
            "peak_rss_mb": peak_rss_mb(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
