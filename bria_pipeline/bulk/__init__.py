"""Advanced (bulk) datasets: build the zip from local images, stage it, run the bulk upload.

    zipbuild   the deterministic, streamed, stored zip whose sha256 names the staged object
    staging    where the service fetches the zip from (a user's uploader, fsspec, the sandbox)
    upload     one bulk-upload POST, status polling with progress, failed images mapped back
    advanced   all three for one DesiredDataset: what the executor calls

    from bria_pipeline.bulk import build_zip, target_for, upload_advanced_dataset
"""

from .advanced import upload_advanced_dataset
from .errors import BulkError, BulkUploadError, StagingError, StagingUnavailable, ZipBuildError
from .staging import FsspecTarget, SandboxStagingTarget, StagingTarget, UrlTemplateTarget, probe_url, target_for
from .upload import BulkProgress, BulkReport, BulkUploadFailed, FailedImage, bulk_upload_dataset, member_keys
from .zipbuild import DatasetZip, ZipMember, build_zip, zip_members

__all__ = [
    "BulkError", "BulkProgress", "BulkReport", "BulkUploadError", "BulkUploadFailed", "DatasetZip", "FailedImage",
    "FsspecTarget", "SandboxStagingTarget", "StagingError", "StagingTarget", "StagingUnavailable", "UrlTemplateTarget",
    "ZipBuildError", "ZipMember", "build_zip", "bulk_upload_dataset", "member_keys", "probe_url",
    "target_for", "upload_advanced_dataset", "zip_members",
]
