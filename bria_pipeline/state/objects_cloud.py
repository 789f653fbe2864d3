"""``s3://``, ``gs://`` and ``az://`` backends, through obstore (the `s3`, `gcs`, `azure` extras).

obstore (Python bindings of the Rust `object_store` crate) was chosen over fsspec + s3fs/gcsfs/
adlfs because it offers the two conditional writes this design needs on every cloud with one
API: `mode="create"` (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`, Azure `If-None-Match`)
and `mode={"e_tag": ...}` (S3/Azure `If-Match`, GCS generation match). s3fs has create-only
puts but no `If-Match`; gcsfs and adlfs have neither.

Credentials and endpoints come only from the cloud's standard environment (`AWS_*` including
`AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP`, `GOOGLE_*`, `AZURE_STORAGE_*`): obstore reads them
itself; nothing here sees or logs a secret. Only ``s3://`` is tested (against moto's server);
``gs://`` and ``az://`` go through the same calls.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from ..atomic import atomic_writer
from .objects import ABSENT, Blob, ObjectConflict, ObjectStoreError

EXTRA = {"s3": "s3", "gs": "gcs", "az": "azure"}
# A backend that does not answer fails the run in seconds, not after obstore's 3 minutes of retries.
RETRIES = {"max_retries": 2, "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2),
                                        "base": 2.0}, "retry_timeout": timedelta(seconds=15)}
CLIENT = {"timeout": timedelta(seconds=60), "connect_timeout": timedelta(seconds=5)}


class CloudObjectStore:
    def __init__(self, store: object, url: str) -> None:
        self._store = store
        self.url = url
        self.requests = 0
        import obstore

        self._ob = obstore

    @classmethod
    def from_url(cls, url: str) -> CloudObjectStore:
        scheme = urlsplit(url).scheme
        try:
            from obstore.store import from_url
        except ImportError:
            raise ObjectStoreError(
                f"a {scheme}:// backend needs obstore",
                hint=f"pip install 'bria-pipeline[{EXTRA.get(scheme, scheme)}]'",
            ) from None
        client = dict(CLIENT)
        if scheme == "s3" and os.environ.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes"):
            client["allow_http"] = True
        try:
            store = from_url(url.rstrip("/"), client_options=client, retry_config=RETRIES)
        except Exception as exc:  # obstore raises its own configuration errors; they carry no secret
            raise ObjectStoreError(f"backend {url}: {_short(exc)}") from None
        return cls(store, url)

    def _fail(self, key: str, exc: BaseException) -> ObjectStoreError:
        return ObjectStoreError(f"backend {self.url}: cannot access {key}: {_short(exc)}",
                                hint="check the backend's credentials (the cloud's environment) and that it is reachable")

    def read(self, key: str) -> Blob | None:
        self.requests += 1
        try:
            got = self._ob.get(self._store, key)
            data = bytes(got.bytes())
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._fail(key, exc) from None
        return Blob(data, _version(got.meta))

    def write(self, key: str, data: bytes, *, expect: str | None = None) -> str:
        self.requests += 1
        mode: object = "overwrite"
        if expect == ABSENT:
            mode = "create"
        elif expect is not None:
            e_tag, _, version = expect.partition(VERSION_SEP)
            mode = {k: v for k, v in (("e_tag", e_tag), ("version", version)) if v}
        try:
            result = self._ob.put(self._store, key, data, mode=mode)
        except (self._ob.exceptions.AlreadyExistsError, self._ob.exceptions.PreconditionError):
            what = "already exists" if expect == ABSENT else "changed since it was read"
            raise ObjectConflict(f"backend {self.url}: {key} {what}") from None
        except Exception as exc:
            raise self._fail(key, exc) from None
        return _version(result)

    def delete(self, key: str) -> None:
        self.delete_many([key])

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.requests += 1
            try:
                self._ob.delete(self._store, keys[start:start + 1000])
            except FileNotFoundError:
                pass
            except Exception as exc:
                raise self._fail(keys[start], exc) from None

    def list(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        try:
            for page in self._ob.list(self._store, prefix=prefix.rstrip("/") or None, chunk_size=1000):
                self.requests += 1
                for meta in page:
                    found[meta["path"]] = int(meta["size"])
        except Exception as exc:
            raise self._fail(prefix, exc) from None
        return found

    def get_file(self, key: str, path: object) -> bool:
        self.requests += 1
        try:
            got = self._ob.get(self._store, key)
            with atomic_writer(Path(str(path))) as fh:
                for chunk in got:
                    fh.write(chunk)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._fail(key, exc) from None
        return True


VERSION_SEP = "\n"  # an ETag and, where the store has one (GCS generation, S3 version id), a version


def _version(meta: dict) -> str:
    """What a compare-and-swap compares: S3 and Azure match the ETag, GCS the generation."""
    e_tag, version = meta.get("e_tag") or "", meta.get("version") or ""
    return f"{e_tag}{VERSION_SEP}{version}" if version else str(e_tag)


def _short(exc: BaseException) -> str:
    """obstore's messages carry a debug dump: keep the first line."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
