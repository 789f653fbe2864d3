"""Where state lives: a small object-store interface, and `open_store(url)` to pick one.

    store = open_store("s3://bucket/team/bria")     # or file:///srv/bria, gs://..., az://...
    blob = store.read("brands/lucy/spec/state.json")          # Blob(data, version) or None
    version = store.write(key, data, expect=blob.version)      # compare-and-swap
    store.write(key, data, expect=ABSENT)                      # create-if-absent (the lock)

Three operations carry the whole design (as Terraform's statemgr does): read with a version,
write with compare-and-swap on that version (an S3 ETag with `If-Match`, a GCS generation, a
file's content hash under a lock locally), and create-if-absent (S3 `If-None-Match: *`, GCS
generation precondition 0, an exclusive link locally). A failed precondition is
`ObjectConflict`: a lost update is detected, never silently overwritten.

Implementations: `objects_local.LocalObjectStore` (``file://``) and
`objects_cloud.CloudObjectStore` (``s3://``, ``gs://``, ``az://``, through obstore, an
optional extra). Credentials come only from each cloud's standard environment. Every store
counts its requests (`requests`), so a run can say what the backend cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ..masking import mask_url, url_secret_parts
from .errors import StateError

ABSENT = "<absent>"  # `expect=ABSENT`: create only if no object is there
SCHEMES = ("file", "s3", "gs", "az")


class ObjectStoreError(StateError):
    """The backend could not be read or written (names the URL, never a credential)."""


class ObjectConflict(ObjectStoreError):
    """A conditional write failed: the object is not at the version the writer expected."""


@dataclass(frozen=True)
class Blob:
    data: bytes
    version: str  # ETag, generation or content hash: what a compare-and-swap compares


class ObjectStore(Protocol):
    url: str
    requests: int

    def read(self, key: str) -> Blob | None: ...

    def write(self, key: str, data: bytes, *, expect: str | None = None) -> str:
        """Store `data`; `expect`: None (unconditional), ABSENT (create only), or a version (CAS)."""

    def delete(self, key: str) -> None: ...

    def delete_many(self, keys: list[str]) -> None: ...

    def list(self, prefix: str) -> dict[str, int]:
        """Keys under `prefix` with their sizes."""

    def get_file(self, key: str, path: object) -> bool:
        """Download `key` to the local `path` (atomically); False when absent."""


def check_backend_url(url: str, *, source: str = "") -> str:
    """The URL as given, or a StateError saying what is wrong: shown masked (`masking.mask_url`),
    never with a credential, a query, a fragment or parameters. `source` names where it came from."""
    shown = mask_url(url)
    where = f" ({source})" if source else ""
    secret = url_secret_parts(url)
    if secret:
        raise StateError(
            f"backend URL {shown}{where} carries {' and '.join(secret)}: a backend URL is only "
            "scheme://bucket/prefix",
            hint="keep only scheme://bucket/prefix; credentials and options come from the cloud's own "
                 "environment (AWS_*, GOOGLE_*, AZURE_*), never from the URL",
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise StateError(f"backend URL {shown}{where} is not a URL", hint=EXAMPLES) from None
    if parts.scheme not in SCHEMES:
        raise StateError(f"backend URL {shown}{where} is not supported", hint=f"use {EXAMPLES}")
    if parts.scheme != "file" and not parts.netloc:
        raise StateError(f"backend URL {shown}{where} names no bucket", hint=f"{parts.scheme}://BUCKET/PREFIX")
    return url


EXAMPLES = "file:///path, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"


def open_store(url: str, *, timeout: float | None = None) -> ObjectStore:
    """The store for a backend URL (the cloud library is imported only when one is used);
    `timeout`: seconds one request may take, its retries included (None: the store's default)."""
    check_backend_url(url)
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from .objects_local import LocalObjectStore

        return LocalObjectStore.from_url(url)
    from .objects_cloud import CloudObjectStore

    return CloudObjectStore.from_url(url, timeout=timeout)
