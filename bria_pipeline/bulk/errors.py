"""Errors of advanced (bulk) datasets: building the zip, staging it, the bulk upload itself.

    BriaPipelineError
     └── BulkError                 anything in bria_pipeline.bulk
          ├── ZipBuildError        an image cannot go into the zip (missing, changed, a URL)
          ├── StagingError         the zip could not be put where the service fetches it
          │    └── StagingUnavailable  an optional library the target needs is not installed
          └── BulkUploadError      the service refused or failed the bulk upload

Every error names the file, URL or dataset it is about and says how to fix it. None carries the API
token: the only credentials here are the user's own staging command and storage options, and those
are never quoted back either.
"""

from __future__ import annotations

from ..errors import BriaPipelineError


class BulkError(BriaPipelineError):
    """Base of this layer's errors."""


class ZipBuildError(BulkError):
    """An image cannot be put into the dataset zip."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message, hint=hint)
        self.key = key


class StagingError(BulkError):
    """The zip could not be staged (uploaded, found, or signed)."""


class StagingUnavailable(StagingError):
    """A staging target needs an optional library that is not installed."""


class BulkUploadError(BulkError):
    """The bulk upload was refused, failed, or did not finish in time."""

    def __init__(self, message: str, *, dataset_id: int | str | None = None, hint: str | None = None) -> None:
        super().__init__(f"dataset {dataset_id}: {message}" if dataset_id is not None else message, hint=hint)
        self.dataset_id = dataset_id
