"""The Bria API client: every operation of the contract, safe retries, pacing and polling.

    from bria_pipeline.api import AsyncBriaClient, BriaClient

See client.py (the methods), operations.py (the table), errors.py (the error tree),
session.py (retries and read-back), pacing.py and polling.py.
"""

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.api.errors import (
    AmbiguousResult,
    ApiError,
    AuthError,
    BadRequest,
    ConfigError,
    Conflict,
    ForbiddenError,
    HttpError,
    ImageUrlUnreachable,
    JobFailed,
    ModerationError,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    QuotaExceeded,
    RateLimited,
    ServerError,
    TransportError,
    UnsupportedMedia,
    WaitTimeout,
)
from bria_pipeline.api.operations import BY_NAME, OPERATIONS, Operation
from bria_pipeline.api.readback import Outcome
from bria_pipeline.api.retry import RetryPolicy
from bria_pipeline.api.secret import Secret
from bria_pipeline.api.stats import ApiEvent, RequestStats
from bria_pipeline.api.sync_client import BriaClient
from bria_pipeline.api.types import (
    AsyncJob,
    BulkUploadStatus,
    Checkpoint,
    CheckpointList,
    Dataset,
    Download,
    GenerationResult,
    Image,
    JobStatus,
    Model,
    Project,
    TrainingParameters,
)

__all__ = [
    "AmbiguousResult", "ApiError", "ApiEvent", "AsyncBriaClient", "AsyncJob", "AuthError", "BY_NAME",
    "BadRequest", "BriaClient", "BulkUploadStatus", "Checkpoint", "CheckpointList", "ConfigError", "Conflict",
    "Dataset", "Download", "ForbiddenError", "GenerationResult", "HttpError", "Image", "ImageUrlUnreachable",
    "JobFailed", "JobStatus", "Model", "ModerationError", "NotFound", "OPERATIONS", "Operation", "Outcome",
    "PayloadTooLarge", "PreconditionFailed", "Project", "QuotaExceeded", "RateLimited", "RequestStats",
    "RetryPolicy", "Secret", "ServerError", "TrainingParameters", "TransportError", "UnsupportedMedia",
    "WaitTimeout",
]
