"""Everything the API layer raises, as one tree a caller can branch on.

    BriaPipelineError                      bria_pipeline.errors
     └── ApiError                          the API, the network or the client's configuration said no
          ├── ConfigError                  no token, a malformed API URL: nothing was sent
          ├── HttpError                    the API answered with an error status
          │    ├── BadRequest              400  the request body or parameters are invalid
          │    ├── AuthError               401  the token is missing or wrong
          │    ├── ForbiddenError          403  the plan does not include this, or not your resource
          │    │    └── QuotaExceeded      403  "Quota exceeded": never retried, stops the client
          │    ├── NotFound                404
          │    ├── Conflict                409  e.g. a completed dataset is frozen, training started
          │    ├── PreconditionFailed      412  e.g. the dataset is not completed, image too small
          │    ├── PayloadTooLarge         413
          │    ├── UnsupportedMedia        415
          │    ├── ModerationError         422  content moderation or invalid image data
          │    ├── RateLimited             429  still limited after the retries allowed
          │    ├── ImageUrlUnreachable     460  the server could not fetch an image URL
          │    └── ServerError             5xx  still failing after the retries allowed
          ├── TransportError               no answer: connection refused or lost, timeout
          ├── AmbiguousResult              a creating or billing POST whose outcome is unknown
          │                                and could not be read back
          ├── JobFailed                    an async job, captioning, bulk upload or training ended
          │                                in ERROR / UNKNOWN / Failed / Stopped
          └── WaitTimeout                  a wait gave up before the job reached a final state

Every error carries what is known of the failed call: the HTTP status, Bria's error code and
message, the request_id, the operation name and a hint. None carries the API token: texts built
from server answers pass through the client's redactor before they reach an error.
"""

from __future__ import annotations

from typing import Any

from bria_pipeline.errors import BriaPipelineError


class ApiError(BriaPipelineError):
    """Base of the API layer. `describe()` is one paragraph a person can act on."""

    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        code: str | int | None = None,
        bria_message: str | None = None,
        request_id: str | None = None,
        operation: str | None = None,
        method: str | None = None,
        path: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, hint=hint if hint is not None else self.default_hint)
        self.status = status
        self.code = code
        self.bria_message = bria_message
        self.request_id = request_id
        self.operation = operation
        self.method = method
        self.path = path
        self.details = details

    def describe(self) -> str:
        head = self.message
        where = []
        if self.operation:
            call = f"{self.method} {self.path}" if self.method and self.path else ""
            where.append(f"operation {self.operation}" + (f" ({call})" if call else ""))
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        if self.code is not None and self.code != self.status:
            where.append(f"code {self.code}")
        if self.request_id:
            where.append(f"request_id {self.request_id}")
        text = head + (f"\n  [{', '.join(where)}]" if where else "")
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(ApiError):
    """The client cannot be set up: nothing was sent."""


class HttpError(ApiError):
    """The API answered with an error status."""


class BadRequest(HttpError):
    default_hint = "The API rejected the request's parameters; the message above says which."


class AuthError(HttpError):
    default_hint = (
        "Check BRIA_API_TOKEN: it must be a valid API token of your organization "
        "(https://platform.bria.ai/organization-management/api-keys)."
    )


class ForbiddenError(HttpError):
    default_hint = (
        "Your plan does not include this feature, or the resource belongs to another organization."
    )


class QuotaExceeded(ForbiddenError):
    default_hint = (
        "Your organization's request quota is used up. Upgrade the plan or wait for the quota to "
        "renew; nothing more is sent until then."
    )


class NotFound(HttpError):
    default_hint = "The resource does not exist (any more). Run `bria-pipeline refresh SPEC` to update local state."


class Conflict(HttpError):
    default_hint = (
        "The resource's state forbids this: a completed dataset is frozen, a training already "
        "started or stopped cannot be restarted, a resource in training cannot be deleted."
    )


class PreconditionFailed(HttpError):
    default_hint = (
        "A precondition is not met: the dataset must be completed before training, and images "
        "must be large enough (1024x1024, or 256x256 with increase_resolution)."
    )


class PayloadTooLarge(HttpError):
    default_hint = "The upload is too large (bulk upload ZIP files are limited to 5 GB)."


class UnsupportedMedia(HttpError):
    default_hint = "Use jpg, jpeg, png or webp images."


class ModerationError(HttpError):
    default_hint = (
        "Content moderation rejected the input or output, or the image data is invalid. "
        "Change the prompt or image."
    )


class RateLimited(HttpError):
    default_hint = (
        "The API's rate limit was hit. Pace requests below your plan's limit "
        "(rate_limit_per_minute) and try again."
    )

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ImageUrlUnreachable(HttpError):
    default_hint = "The server could not download the image URL: make it public, or upload the file."


class ServerError(HttpError):
    default_hint = "Bria's service failed; see https://status.bria.ai and try again later."


class TransportError(ApiError):
    default_hint = "Check the network and the API URL (--api-url / BRIA_API_URL)."


class AmbiguousResult(ApiError):
    """A POST that creates or bills failed in a way that hides whether the server acted.

    `candidates` lists what a read-back found when it could not tell which one is ours.
    """

    default_hint = (
        "The server may or may not have carried this out. Run `bria-pipeline refresh SPEC` to read the "
        "remote state before applying again."
    )

    def __init__(self, message: str, *, candidates: tuple[Any, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.candidates = candidates


class JobFailed(ApiError):
    """A long job ended without success. `job_status` is the final status the server reported."""

    def __init__(self, message: str, *, job_status: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.job_status = job_status


class WaitTimeout(ApiError):
    default_hint = "The job may still finish: wait again later (a resumed apply picks it up)."

    def __init__(self, message: str, *, last_status: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.last_status = last_status


_BY_STATUS: dict[int, type[HttpError]] = {
    400: BadRequest,
    401: AuthError,
    403: ForbiddenError,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMedia,
    422: ModerationError,
    429: RateLimited,
    460: ImageUrlUnreachable,
}


def error_class_for(status: int, text: str = "") -> type[HttpError]:
    """The class for an error answer; a 403 that says "Quota exceeded" is QuotaExceeded."""
    if status == 403 and "quota exceeded" in text.lower():
        return QuotaExceeded
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, HttpError)
