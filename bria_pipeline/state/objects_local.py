"""``file://`` backend: a folder (a shared disk, an NFS mount, a test's temp dir).

- create-if-absent: the data is written to a temp file, then hard-linked to the final name;
  `link` fails if the name exists, so exactly one writer wins, with the whole content.
- compare-and-swap: a per-key OS lock (flock) around read, compare, atomic replace. The version
  is the sha256 of the content.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import FileLock

from ..atomic import temp_path_for, write_atomic
from .hashing import sha256_bytes
from .objects import ABSENT, Blob, ObjectConflict, ObjectStoreError

LOCK_SUFFIX = ".cas-lock"


def _version(data: bytes) -> str:
    return sha256_bytes(data)[:32]


class LocalObjectStore:
    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = Path(root)
        self.url = url or self.root.as_uri()
        self.requests = 0

    @classmethod
    def from_url(cls, url: str) -> LocalObjectStore:
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost"):
            raise ObjectStoreError(f"{url}: a file:// URL names a local path (file:///abs/path)")
        return cls(Path(path), url)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ObjectStoreError(f"{self.url}: {key!r} is not a key inside the backend")
        return self.root / key

    def _fail(self, key: str, exc: OSError) -> ObjectStoreError:
        return ObjectStoreError(f"backend {self.url}: cannot access {key}: {exc.strerror or exc}")

    def read(self, key: str) -> Blob | None:
        self.requests += 1
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail(key, exc) from None
        return Blob(data, _version(data))

    def write(self, key: str, data: bytes, *, expect: str | None = None) -> str:
        self.requests += 1
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if expect == ABSENT:
                tmp = temp_path_for(path)
                tmp.write_bytes(data)
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise ObjectConflict(f"backend {self.url}: {key} already exists") from None
                finally:
                    tmp.unlink(missing_ok=True)
                return _version(data)
            if expect is None:
                write_atomic(path, data)
                return _version(data)
            with FileLock(str(path) + LOCK_SUFFIX):
                try:
                    current = _version(path.read_bytes())
                except FileNotFoundError:
                    current = None
                if current != expect:
                    raise ObjectConflict(f"backend {self.url}: {key} changed since it was read")
                write_atomic(path, data)
            return _version(data)
        except OSError as exc:
            raise self._fail(key, exc) from None

    def delete(self, key: str) -> None:
        self.requests += 1
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise self._fail(key, exc) from None

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.delete(key)

    def list(self, prefix: str) -> dict[str, int]:
        self.requests += 1
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        found: dict[str, int] = {}
        if base.is_dir():
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    if name.endswith(LOCK_SUFFIX) or ".part-" in name:
                        continue
                    full = Path(dirpath) / name
                    found[full.relative_to(self.root).as_posix()] = full.stat().st_size
        return found

    def get_file(self, key: str, path: object) -> bool:
        blob = self.read(key)
        if blob is None:
            return False
        write_atomic(Path(str(path)), blob.data)
        return True
