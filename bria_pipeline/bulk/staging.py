"""Staging: putting a dataset zip where the service can fetch it, and knowing its URL.

One small interface, `StagingTarget.stage(zip_path, name) -> url`, three kinds behind it:

    UrlTemplateTarget     the user's own uploader: an argv command uploads, a template gives the URL
    FsspecTarget          an object store through fsspec (s3, gcs, ...): presigned GET URL
    SandboxStagingTarget  the sandbox's staging area, for tests and demos

(A ready ``zip_url`` in the spec needs no target: it is used as it is.)

`name` carries the zip's content hash, so staging is idempotent: when an object of that name and
size is already there, nothing is uploaded again. After an upload the target reads the URL back
(a one-byte ranged GET) before answering, because a dataset gets exactly one bulk upload: a URL
the service cannot fetch must fail here, not there.

Probes and uploads never carry the API token: staging hosts are not the API's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from ..masking import mask_url
from ..model import StagingSpec
from .errors import StagingError, StagingUnavailable

CHUNK_SIZE = 1 << 20
PROBE_TIMEOUT = 30.0
UNKNOWN_SIZE = -1


@runtime_checkable
class StagingTarget(Protocol):
    """Where dataset zips go. `stage` returns the URL the service fetches the zip from."""

    async def stage(self, zip_path: Path, name: str) -> str: ...

    def describe(self) -> str:
        """Where zips go, for plans and logs (no credentials)."""
        ...


async def probe_url(url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> int | None:
    """The size of what a GET on `url` returns, UNKNOWN_SIZE if it does not say, None if nothing is there.

    Asks for one byte (``Range: bytes=0-0``), so presigned GET URLs work and nothing is downloaded.
    A network failure counts as "nothing there".
    """
    try:
        async with httpx.AsyncClient(transport=transport, timeout=PROBE_TIMEOUT, follow_redirects=True) as client:
            async with client.stream("GET", url, headers={"Range": "bytes=0-0"}) as response:
                if response.status_code == 206:
                    total = response.headers.get("content-range", "").rpartition("/")[2]
                    return int(total) if total.isdigit() else UNKNOWN_SIZE
                if response.status_code == 200:
                    length = response.headers.get("content-length", "")
                    return int(length) if length.isdigit() else UNKNOWN_SIZE
                return None
    except httpx.HTTPError:
        return None


def _is_there(found: int | None, size: int) -> bool:
    return found is not None and found in (size, UNKNOWN_SIZE)


async def _verify_fetchable(url: str, size: int, transport: httpx.AsyncBaseTransport | None, hint: str) -> None:
    found = await probe_url(url, transport=transport)
    if not _is_there(found, size):
        what = "nothing" if found is None else f"{found} bytes instead of {size}"
        raise StagingError(f"the zip was uploaded, but {mask_url(url)} serves {what}", hint=hint)


class UrlTemplateTarget:
    """The user's own uploader: `upload_command` puts the file, `url_template` says where it is.

    `upload_command` is an argv list run without a shell; ``{file}`` (the zip's path), ``{name}``
    (its content-hash name) and ``{url}`` are filled into its arguments. `url_template` must hold
    ``{name}``: ``https://files.example.com/bria/{name}``.
    """

    def __init__(
        self,
        url_template: str,
        upload_command: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 3600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if "{name}" not in url_template:
            raise StagingError(
                f"staging url_template {mask_url(url_template)!r} has no {{name}}",
                hint="put {name} where the zip's file name goes, e.g. https://files.example.com/bria/{name}",
            )
        if isinstance(upload_command, str) or not upload_command or not all(isinstance(a, str) for a in upload_command):
            raise StagingError(
                "staging upload_command must be a list of arguments",
                hint='e.g. upload_command: [aws, s3, cp, "{file}", "s3://my-bucket/bria/{name}"]',
            )
        if not any("{file}" in a for a in upload_command):
            raise StagingError(
                "staging upload_command never mentions {file}",
                hint="put {file} where the command takes the path of the zip to upload",
            )
        self.url_template = url_template
        self.upload_command = tuple(upload_command)
        self.cwd = cwd
        self.timeout = timeout
        self.transport = transport

    def url_for(self, name: str) -> str:
        return self.url_template.replace("{name}", quote(name))

    def describe(self) -> str:
        return f"{mask_url(self.url_template)} (uploaded by {self.upload_command[0]})"

    async def stage(self, zip_path: Path, name: str) -> str:
        url = self.url_for(name)
        size = Path(zip_path).stat().st_size
        if _is_there(await probe_url(url, transport=self.transport), size):
            return url
        argv = [a.replace("{file}", str(zip_path)).replace("{name}", name).replace("{url}", url) for a in self.upload_command]
        await self._run(argv)
        await _verify_fetchable(
            url,
            size,
            self.transport,
            hint="check that url_template gives the address where upload_command puts the file",
        )
        return url

    async def _run(self, argv: list[str]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise StagingError(
                f"cannot run the staging upload_command {argv[0]!r}: {exc.strerror or exc}",
                hint="install the uploader or give its full path in upload_command",
            ) from None
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), timeout=self.timeout)
        except asyncio.TimeoutError:
            await _end(proc)
            raise StagingError(
                f"the staging upload_command {argv[0]!r} did not finish within {self.timeout:g} s",
                hint="check the uploader can reach its store; the next run uploads again",
            ) from None
        except asyncio.CancelledError:
            await _end(proc)
            raise
        if proc.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip()[-400:]
            raise StagingError(
                f"the staging upload_command {argv[0]!r} exited with status {proc.returncode}"
                + (f": {tail}" if tail else ""),
                hint="run the command by hand with the same arguments to see what it needs",
            )


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _import_fsspec() -> Any:
    try:
        import fsspec  # noqa: PLC0415 - optional extra, imported only when used
    except ImportError:
        raise StagingUnavailable(
            "staging with fsspec needs the fsspec package, which is not installed",
            hint="pip install 'bria-pipeline[staging]' (plus s3fs or gcsfs for your store)",
        ) from None
    return fsspec


class FsspecTarget:
    """An object store through fsspec: ``s3://bucket/prefix``, ``gcs://bucket/prefix``, ...

    The service gets a GET URL presigned for `presign_seconds` (the filesystem's ``sign``), or
    `public_url` with ``{name}`` filled in when the objects are public.
    """

    def __init__(
        self,
        base: str,
        presign_seconds: int = 3600,
        *,
        public_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        fsspec = _import_fsspec()
        if public_url is not None and "{name}" not in public_url:
            raise StagingError(
                f"staging public_url {mask_url(public_url)!r} has no {{name}}",
                hint="put {name} where the zip's file name goes",
            )
        try:
            self._fs, root = fsspec.core.url_to_fs(base, **dict(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise StagingUnavailable(
                f"fsspec cannot open {base!r}: {exc}",
                hint="install the filesystem's package (s3fs for s3://, gcsfs for gcs://)",
            ) from None
        self.base = base
        self._root = str(root).rstrip("/")
        self.presign_seconds = presign_seconds
        self.public_url = public_url
        self.transport = transport

    def describe(self) -> str:
        return mask_url(self.base)

    def path_for(self, name: str) -> str:
        return f"{self._root}/{name}" if self._root else name

    async def stage(self, zip_path: Path, name: str) -> str:
        size = Path(zip_path).stat().st_size
        url = await asyncio.to_thread(self._put_and_sign, Path(zip_path), name, size)
        await _verify_fetchable(
            url,
            size,
            self.transport,
            hint="the object is in the store but its URL does not serve it: check public_url or the bucket's access",
        )
        return url

    def _put_and_sign(self, zip_path: Path, name: str, size: int) -> str:
        path = self.path_for(name)
        try:
            there = self._fs.exists(path) and self._fs.size(path) == size
            if not there:
                if getattr(self._fs, "local_file", False):  # object stores have no folders to make
                    self._fs.makedirs(self._fs._parent(path), exist_ok=True)
                self._fs.put_file(str(zip_path), path)
        except OSError as exc:
            raise StagingError(f"cannot put the zip at {mask_url(self.base)}/{name}: {exc}", hint="check the store's credentials and permissions") from None
        if self.public_url is not None:
            return self.public_url.replace("{name}", quote(name))
        try:
            return str(self._fs.sign(path, expiration=self.presign_seconds))
        except NotImplementedError:
            raise StagingError(
                f"the filesystem behind {self.base} cannot presign URLs",
                hint="give staging public_url: https://.../{name} where the service can fetch the objects",
            ) from None


class SandboxStagingTarget:
    """The sandbox's staging area: ``PUT`` and ``GET {base_url}/_sandbox/staging/{name}``.

    Give the transport the sandbox is reached through (httpx.ASGITransport for an in-process
    sandbox); the zip is streamed from the file, never read whole.
    """

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.timeout = timeout

    def url_for(self, name: str) -> str:
        return f"{self.base_url}/_sandbox/staging/{quote(name)}"

    def describe(self) -> str:
        return f"{self.base_url}/_sandbox/staging (sandbox)"

    async def stage(self, zip_path: Path, name: str) -> str:
        url = self.url_for(name)
        size = Path(zip_path).stat().st_size
        if _is_there(await probe_url(url, transport=self.transport), size):
            return url
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as client:
            try:
                response = await client.put(
                    url,
                    content=_file_chunks(Path(zip_path)),
                    headers={"Content-Length": str(size), "Content-Type": "application/zip"},
                )
            except httpx.HTTPError as exc:
                raise StagingError(f"cannot reach the sandbox staging at {self.base_url}: {exc}", hint="is the sandbox running?") from None
        if response.status_code >= 300:
            raise StagingError(
                f"the sandbox staging refused {name}: HTTP {response.status_code} {response.text[:200]}",
                hint="check the sandbox's log",
            )
        await _verify_fetchable(url, size, self.transport, hint="the sandbox accepted the zip but does not serve it back")
        return url


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK_SIZE):
            yield chunk


def target_for(
    spec: StagingSpec,
    *,
    spec_dir: str | os.PathLike[str] | None = None,
    sandbox_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> StagingTarget:
    """The staging target a spec's `staging:` asks for.

    `sandbox_url` and `transport` are how the runner reaches the sandbox (when it runs against
    one); `transport` is used only for the sandbox, never for user or object-store URLs.
    Commands run in `spec_dir`, so a relative ``./upload.sh`` works.
    """
    where = f"{spec.mark}: " if spec.mark else ""
    if spec.kind == "url_template":
        if not spec.url_template or not spec.upload_command:
            raise StagingError(f"{where}staging needs both url_template and upload_command")
        return UrlTemplateTarget(spec.url_template, spec.upload_command, cwd=spec_dir)
    if spec.kind == "fsspec":
        if not spec.base:
            raise StagingError(f"{where}staging needs an fsspec base URL such as s3://bucket/prefix")
        return FsspecTarget(
            spec.base, spec.presign_seconds, public_url=spec.public_url, storage_options=dict(spec.storage_options)
        )
    if spec.kind == "sandbox":
        if sandbox_url is None:
            raise StagingError(
                f"{where}staging: sandbox works only against the sandbox",
                hint="run with --sandbox (or against `bria-pipeline sandbox serve`), or choose url_template or fsspec staging",
            )
        return SandboxStagingTarget(sandbox_url, transport=transport)
    raise StagingError(f"{where}unknown staging kind {spec.kind!r}", hint="use url_template, fsspec or sandbox")
