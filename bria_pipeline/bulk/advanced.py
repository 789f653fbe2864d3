"""An advanced dataset from the spec to the service: zip, stage, bulk upload, report.

The executor calls `upload_advanced_dataset` for a created (empty) advanced dataset. Building
and staging happen only when a POST is needed: a job an earlier run started is followed as it
is, without reading 5,000 images again.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ..model import DesiredDataset
from .errors import StagingError
from .staging import StagingTarget
from .upload import BulkClient, BulkProgress, BulkReport, ProgressCallback, bulk_upload_dataset, member_keys
from .zipbuild import build_zip


async def upload_advanced_dataset(
    client: BulkClient,
    dataset_id: int | str,
    dataset: DesiredDataset,
    *,
    target: StagingTarget | None,
    work_dir: str | os.PathLike[str],
    on_progress: ProgressCallback | None = None,
    timeout: float = 3600.0,
    interval: float = 1.0,
    max_interval: float = 10.0,
    keep_zip: bool = False,
) -> BulkReport:
    """Fill the advanced dataset `dataset_id` with `dataset`'s images in its one bulk upload.

    A ready ``dataset.zip_url`` is used as it is. Otherwise the zip is built under `work_dir`
    (``.bria/zips/`` beside the spec, say), staged with `target` under its content-hash name, and
    the local copy removed once staged (unless `keep_zip`).
    """
    names = member_keys(dataset.images)
    total = len(names) if not dataset.zip_url else None

    def report(status: str) -> None:
        if on_progress is not None:
            on_progress(BulkProgress(status, total=total))

    async def zip_url() -> str:
        if target is None:
            raise StagingError(
                f"dataset {dataset.key!r} is advanced and built from local files, but no staging is set",
                hint="add `staging:` to the spec (url_template + upload_command, fsspec, or sandbox), or give a ready zip_url",
            )
        report("zipping")
        dest = Path(work_dir) / f"{dataset.remote_name}.zip"
        built = await asyncio.to_thread(build_zip, dataset.images, dest)
        report("staging")
        try:
            return await target.stage(built.path, built.object_name)
        finally:
            if not keep_zip:
                built.path.unlink(missing_ok=True)

    return await bulk_upload_dataset(
        client,
        dataset_id,
        dataset.zip_url or zip_url,
        names=names,
        total=total,
        content_moderation=dataset.content_moderation,
        on_progress=on_progress,
        timeout=timeout,
        interval=interval,
        max_interval=max_interval,
    )
