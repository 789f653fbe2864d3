"""Where request media comes from: base64 strings (optionally data: URLs), http(s) URLs, and
the sandbox's own file URLs (read locally, without HTTP, so they work in-process too)."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bria_pipeline.sandbox.context import Sandbox
from bria_pipeline.sandbox.problems import ApiProblem

FETCH_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=-]+)*;base64,", re.I)


def decode_base64(text: str, field: str) -> bytes:
    text = _DATA_URL.sub("", text.strip(), count=1)
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise ApiProblem(400, f"{field} is neither a valid base64 string nor a URL.") from None


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def own_file(sandbox: Sandbox, url: str, request_host: str) -> Path | None:
    """The local path behind one of this sandbox's own /_sandbox/ URLs, or None."""
    parts = urlsplit(url)
    if not parts.path.startswith("/_sandbox/"):
        return None
    hosts = {request_host}
    if sandbox.base_url:
        hosts.add(urlsplit(sandbox.base_url).netloc)
    if parts.netloc not in hosts:
        return None
    from bria_pipeline.sandbox.routes.files import local_path  # the files route owns the URL layout

    return local_path(sandbox, parts.path)


def fetch(sandbox: Sandbox, url: str, request_host: str, *, limit: int, status_on_failure: int = 422) -> bytes:
    """Bytes behind a URL (at most `limit`; 413 beyond). Unreachable URLs answer `status_on_failure`."""
    local = own_file(sandbox, url, request_host)
    if local is not None:
        if not local.is_file():
            raise ApiProblem(status_on_failure, f"Invalid URL: {url} does not exist on this sandbox.")
        if local.stat().st_size > limit:
            raise ApiProblem(413, f"The file at {url} is larger than {limit // (1024 * 1024)} MB.")
        return local.read_bytes()
    if not is_url(url):
        raise ApiProblem(status_on_failure, f"Invalid URL: {url!r} is not an http(s) URL.")
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ApiProblem(status_on_failure, f"Invalid URL: fetching {url} answered HTTP {response.status_code}.")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ApiProblem(413, f"The file at {url} is larger than {limit // (1024 * 1024)} MB.")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise ApiProblem(status_on_failure, f"Invalid URL: {url} could not be fetched ({type(exc).__name__}).") from None


def fetch_to_file(sandbox: Sandbox, url: str, request_host: str, target: Path, *, limit: int) -> Path:
    """Stream a URL to `target` (constant memory); own URLs are linked or copied locally."""
    local = own_file(sandbox, url, request_host)
    if local is not None:
        if not local.is_file():
            raise ApiProblem(400, f"zip_url {url} does not exist on this sandbox.")
        if local.stat().st_size > limit:
            raise ApiProblem(413, "Payload Too Large: the ZIP file exceeds the 5 GB limit.")
        return local
    if not is_url(url):
        raise ApiProblem(400, f"zip_url must be an http(s) URL, got {url!r}.")
    size = 0
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ApiProblem(400, f"zip_url {url} answered HTTP {response.status_code}.")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ApiProblem(413, "Payload Too Large: the ZIP file exceeds the 5 GB limit.")
            with open(target, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise ApiProblem(413, "Payload Too Large: the ZIP file exceeds the 5 GB limit.")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        raise ApiProblem(400, f"zip_url {url} could not be fetched ({type(exc).__name__}).") from None
    except ApiProblem:
        target.unlink(missing_ok=True)
        raise
    return target


def image_bytes(sandbox: Sandbox, value: str, request_host: str, field: str, *, limit: int) -> bytes:
    """An image given as a URL or base64 string (as generate_visual_schema and video accept)."""
    if is_url(value):
        return fetch(sandbox, value, request_host, limit=limit)
    return decode_base64(value, field)
