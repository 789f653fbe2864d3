"""``s3://``, ``gs://`` and ``az://`` backends, through obstore (the `s3`, `gcs`, `azure` extras).

obstore (Python bindings of the Rust `object_store` crate) was chosen over fsspec + s3fs/gcsfs/
adlfs because it offers the two conditional writes this design needs on every cloud with one
API: `mode="create"` (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`, Azure `If-None-Match`)
and `mode={"e_tag": ...}` (S3/Azure `If-Match`, GCS generation match). s3fs has create-only
puts but no `If-Match`; gcsfs and adlfs have neither.

Configuration comes only from each cloud's standard environment, the names obstore's `from_env`
reads: `AWS_*` (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...), `GOOGLE_*` (`GOOGLE_SERVICE_ACCOUNT`,
`GOOGLE_BASE_URL`, `GOOGLE_ALLOW_HTTP`, ...) and `AZURE_*` (`AZURE_STORAGE_ACCOUNT_NAME`,
`AZURE_STORAGE_ENDPOINT`, `AZURE_ALLOW_HTTP`, `AZURE_STORAGE_USE_EMULATOR`, ...). obstore reads
them itself; the HTTP client's settings among them (`<PREFIX>_ALLOW_HTTP`, `<PREFIX>_PROXY_URL`,
...) are handed on here, since the client options this module sets (the time bounds) would
otherwise replace them. Nothing here sees, logs or prints a secret; obstore's messages are shown
with every URL's query masked (an Azure SAS token travels in it).

Every request is bounded: `timeout` seconds (`--timeout`, default DEFAULT_TIMEOUT), its retries
included. A store that let one request run out its time is taken as down for the rest of the run:
later requests fail at once instead of each waiting out its own bound.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from ..atomic import atomic_writer
from ..masking import mask_url
from .objects import ABSENT, Blob, ObjectConflict, ObjectStoreError

if TYPE_CHECKING:  # obstore is an optional extra (s3, gcs, azure)
    from obstore.store import ClientConfig, RetryConfig

T = TypeVar("T")
EXTRA = {"s3": "s3", "gs": "gcs", "az": "azure"}
ENV_PREFIX = {"s3": "AWS_", "gs": "GOOGLE_", "az": "AZURE_"}
# The HTTP client's settings obstore's from_env reads as <PREFIX><KEY> (AWS_ALLOW_HTTP, AZURE_PROXY_URL, ...).
CLIENT_KEYS = ("allow_http", "allow_invalid_certificates", "connect_timeout", "default_content_type", "http1_only",
               "http2_only", "http2_keep_alive_interval", "http2_keep_alive_timeout", "http2_keep_alive_while_idle",
               "pool_idle_timeout", "pool_max_idle_per_host", "proxy_url", "proxy_ca_certificate", "proxy_excludes",
               "randomize_addresses", "user_agent")
DEFAULT_TIMEOUT = 30.0  # seconds one backend request may take, its retries included (--timeout sets it)
CONNECT_SECONDS = 5.0
MISSING_BUCKET = re.compile(r"NoSuchBucket|ContainerNotFound|(bucket|container) does not exist", re.IGNORECASE)
CREATE_BUCKET = {"s3": "aws s3 mb s3://{bucket}", "gs": "gcloud storage buckets create gs://{bucket}",
                 "az": "az storage container create --name {bucket}"}


def client_options(scheme: str, timeout: float | None = None,
                   environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The HTTP client's options: the cloud's own environment (`<PREFIX>_ALLOW_HTTP`, proxies, ...),
    and the time bounds of one request."""
    env = os.environ if environ is None else environ
    prefix = ENV_PREFIX[scheme]
    options: dict[str, Any] = {key: env[prefix + key.upper()] for key in CLIENT_KEYS if env.get(prefix + key.upper())}
    budget = request_budget(timeout)
    options["timeout"] = timedelta(seconds=budget)
    options["connect_timeout"] = timedelta(seconds=min(CONNECT_SECONDS, budget))
    return options


def retry_config(timeout: float | None = None) -> dict[str, Any]:
    """Retries (a refused connection, a 503) only while the request's time is not used up: a
    request that hangs is not tried again, so it fails after `timeout` seconds, not a multiple."""
    budget = request_budget(timeout)
    return {"max_retries": 3, "retry_timeout": timedelta(seconds=budget),
            "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2), "base": 2.0}}


def request_budget(timeout: float | None) -> float:
    return max(0.5, float(timeout)) if timeout else DEFAULT_TIMEOUT


class CloudObjectStore:
    def __init__(self, store: object, url: str, timeout: float | None = None) -> None:
        self._store = store
        self.url = url
        self.requests = 0
        self.timeout = request_budget(timeout)
        self.down: str | None = None  # why the store is taken as down for the rest of the run
        import obstore

        self._ob = obstore

    @classmethod
    def from_url(cls, url: str, *, timeout: float | None = None) -> CloudObjectStore:
        scheme = urlsplit(url).scheme
        try:
            from obstore.store import from_url
        except ImportError:
            raise ObjectStoreError(
                f"a {scheme}:// backend needs obstore",
                hint=f"pip install 'bria-pipeline[{EXTRA.get(scheme, scheme)}]'",
            ) from None
        try:
            # the options are built from the environment by key name: obstore checks them
            store = from_url(url.rstrip("/"), client_options=cast("ClientConfig", client_options(scheme, timeout)),
                             retry_config=cast("RetryConfig", retry_config(timeout)))
        except Exception as exc:  # obstore raises its own configuration errors
            raise ObjectStoreError(
                f"backend {mask_url(url)}: {_short(exc)}",
                hint=f"check the {ENV_PREFIX[scheme]}* variables of the environment (docs: state stores)",
            ) from None
        return cls(store, url, timeout)

    def _call(self, key: str, call: Callable[[], T]) -> T:
        """`call()` (one request to the store), failing at once when the store is down; a request
        that ran out its time marks it down; a missing bucket or container is named."""
        if self.down is not None:
            raise ObjectStoreError(f"backend {mask_url(self.url)}: cannot access {key}: {self.down}",
                                   hint=self._down_hint())
        started = time.monotonic()
        try:
            return call()
        except FileNotFoundError as exc:
            if MISSING_BUCKET.search(str(exc)):
                raise self._missing_bucket() from None
            raise
        except (ObjectStoreError, self._ob.exceptions.AlreadyExistsError, self._ob.exceptions.PreconditionError):
            raise
        except Exception as exc:
            if MISSING_BUCKET.search(str(exc)):
                raise self._missing_bucket() from None
            if time.monotonic() - started >= self.timeout * 0.9 or "timed out" in str(exc).lower():
                self.down = f"it did not answer within {self.timeout:g} s"
                raise ObjectStoreError(f"backend {mask_url(self.url)}: cannot access {key}: {self.down}",
                                       hint=self._down_hint()) from None
            raise self._fail(key, exc) from None

    def _down_hint(self) -> str:
        return ("check that the store is reachable from here (its endpoint comes from the cloud's environment); "
                "--timeout DURATION sets how long one backend request may take; what this run paid for is kept "
                "in the working copy and pushed by the next apply")

    def _missing_bucket(self) -> ObjectStoreError:
        parts = urlsplit(self.url)
        what = "container" if parts.scheme == "az" else "bucket"
        return ObjectStoreError(
            f"backend {mask_url(self.url)}: the {what} {parts.hostname} does not exist (or these credentials "
            "cannot see it)",
            hint=f"check its name in --backend, BRIA_PIPELINE_BACKEND or the spec's backend.url; to create it: "
                 f"{CREATE_BUCKET[parts.scheme].format(bucket=parts.hostname)}",
        )

    def _fail(self, key: str, exc: BaseException) -> ObjectStoreError:
        return ObjectStoreError(f"backend {mask_url(self.url)}: cannot access {key}: {_short(exc)}",
                                hint="check the backend's credentials (the cloud's environment) and that it is reachable")

    def read(self, key: str) -> Blob | None:
        self.requests += 1

        def get() -> tuple[bytes, dict[str, Any]]:
            got = self._ob.get(self._store, key)
            return bytes(got.bytes()), got.meta

        try:
            data, meta = self._call(key, get)
        except FileNotFoundError:
            return None
        return Blob(data, _version(meta))

    def write(self, key: str, data: bytes, *, expect: str | None = None) -> str:
        self.requests += 1
        mode: object = "overwrite"
        if expect == ABSENT:
            mode = "create"
        elif expect is not None:
            e_tag, _, version = expect.partition(VERSION_SEP)
            mode = {k: v for k, v in (("e_tag", e_tag), ("version", version)) if v}
        try:
            result = self._call(key, lambda: self._ob.put(self._store, key, data, mode=mode))
        except (self._ob.exceptions.AlreadyExistsError, self._ob.exceptions.PreconditionError):
            what = "already exists" if expect == ABSENT else "changed since it was read"
            raise ObjectConflict(f"backend {mask_url(self.url)}: {key} {what}") from None
        return _version(result)

    def delete(self, key: str) -> None:
        self.delete_many([key])

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.requests += 1
            try:
                self._call(keys[start], lambda: self._ob.delete(self._store, keys[start:start + 1000]))
            except FileNotFoundError:
                pass

    def list(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}

        def pages() -> None:
            for page in self._ob.list(self._store, prefix=prefix.rstrip("/") or None, chunk_size=1000):
                self.requests += 1
                for meta in page:
                    found[meta["path"]] = int(meta["size"])

        self._call(prefix, pages)
        return found

    def get_file(self, key: str, path: object) -> bool:
        self.requests += 1

        def fetch() -> None:
            got = self._ob.get(self._store, key)
            with atomic_writer(Path(str(path))) as fh:
                for chunk in got:
                    fh.write(chunk)

        try:
            self._call(key, fetch)
        except FileNotFoundError:
            return False
        return True


VERSION_SEP = "\n"  # an ETag and, where the store has one (GCS generation, S3 version id), a version


def _version(meta: dict[str, Any]) -> str:
    """What a compare-and-swap compares: S3 and Azure match the ETag, GCS the generation."""
    e_tag, version = meta.get("e_tag") or "", meta.get("version") or ""
    return f"{e_tag}{VERSION_SEP}{version}" if version else str(e_tag)


def _short(exc: BaseException) -> str:
    """obstore's messages carry a debug dump: keep the first line, every URL in it masked."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return re.sub(r"[a-z][a-z0-9+.-]*://\S+", lambda m: mask_url(m.group()), text.splitlines()[0])[:300]
