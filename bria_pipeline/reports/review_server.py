"""The review server: the gallery and the training images, served with buttons that edit the
decisions file (``<spec>.decisions.yaml``), and nothing else.

    app = review_app(site)      a Starlette app; `bria-pipeline review serve SPEC` runs it with uvicorn

- binds 127.0.0.1 (the caller's choice; the command refuses nothing else unless told);
- every write needs the run's token (``X-Review-Token``; the served page carries it), and a Host
  header naming this machine (a page elsewhere cannot reach it through a rebound name);
- files are served only from inside the spec's folder (symbolic links resolved first), and only
  images and videos: never the spec, the state in ``.bria/``, an ``.env`` file;
- a write changes one entry of the decisions file, written whole and atomically.
"""

from __future__ import annotations

import hmac
import json
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bria_pipeline.decisions import APPROVE, REJECT
from bria_pipeline.spec.decisions_file import DecisionsFile
from bria_pipeline.state.clock import now_iso

TOKEN_HEADER = "X-Review-Token"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_BODY = 64 * 1024


@dataclass
class ReviewSite:
    """What the server serves: the spec's folder, its decisions file, and how to draw the page."""

    spec_dir: Path
    decisions: DecisionsFile
    token: str
    page: Callable[[], str]  # the gallery page, drawn afresh (it shows the decisions as they are)
    outputs: Callable[[], Iterable[tuple[str, str]]]  # (key, address) of every output shown: for the counts
    datasets: dict[str, set[str]] = field(default_factory=dict)  # dataset -> its training images' keys
    sheet: Callable[[], str] | None = None  # the dataset review sheet
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound (port 0: a free one). TCP_NODELAY is set here, and so on every
    connection it accepts: uvicorn given a socket does not set it, and each answer would then
    wait for the client's delayed ACK (about 40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _refused(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)


MEDIA = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".webm", ".ogg", ".avi", ".mov"}
HIDDEN_ALLOWED = {".thumbs"}  # the gallery's thumbnails, in output_dir/.thumbs/


def confined(root: Path, relative: str) -> Path | None:
    """`relative` under `root`, or None when it leads outside (``..``, an absolute path, a link
    out), names a hidden file or folder (``.env``, ``.bria/``), or is not an image or a video."""
    if not relative or "\0" in relative or os.path.isabs(relative):
        return None
    parts = Path(relative).parts
    if any(p.startswith(".") and p not in HIDDEN_ALLOWED for p in parts) or Path(relative).suffix.lower() not in MEDIA:
        return None
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        return None
    return target


def review_app(site: ReviewSite) -> Starlette:
    def host_ok(request: Request) -> bool:
        if not site.allowed_hosts:  # served to other machines on purpose (--allow-remote)
            return True
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in site.allowed_hosts

    async def page(request: Request) -> Response:
        if not host_ok(request):
            return _refused(403, "this server answers only on this machine's loopback address")
        return HTMLResponse(site.page(), headers={"Cache-Control": "no-store"})

    async def sheet(request: Request) -> Response:
        if not host_ok(request):
            return _refused(403, "this server answers only on this machine's loopback address")
        if site.sheet is None:
            return _refused(404, "no dataset review sheet")
        return HTMLResponse(site.sheet(), headers={"Cache-Control": "no-store"})

    async def files(request: Request) -> Response:
        if not host_ok(request):
            return _refused(403, "this server answers only on this machine's loopback address")
        target = confined(site.spec_dir, request.path_params["path"])
        if target is None:
            return _refused(403, "outside the spec's folder, hidden, or not an image or a video: refused")
        if not target.is_file():
            return _refused(404, "no such file")
        return FileResponse(target)

    async def body_of(request: Request) -> dict[str, Any] | Response:
        if not host_ok(request):
            return _refused(403, "this server answers only on this machine's loopback address")
        given = request.headers.get(TOKEN_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), site.token.encode()):
            return _refused(403, f"a write needs this run's token ({TOKEN_HEADER}); reload the page the server printed")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _refused(413, "request too large")
        try:
            body = json.loads(raw)
        except ValueError:
            return _refused(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _refused(400, "the body is not a JSON object")
        return body

    def text(body: dict[str, Any], name: str) -> str | None:
        value = body.get(name)
        if value is None or isinstance(value, str):
            return value or None
        raise ValueError(f"{name} must be a string")

    async def decide(request: Request) -> Response:
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        try:
            address, key, note = text(body, "address"), text(body, "key"), text(body, "note")
            decision = text(body, "decision")
        except ValueError as exc:
            return _refused(400, str(exc))
        if "path" in body or "file" in body:
            return _refused(403, "the server writes only the spec's decisions file")
        if not address or not address.startswith(("generation.", "video.")):
            return _refused(400, "address must be an output's address (generation.<set>[<name>] or video.<name>)")
        if decision not in (None, APPROVE, REJECT):
            return _refused(400, "decision must be approve, reject or null")
        shown = site.outputs()
        if not any(a == address and (key is None or k == key) for k, a in shown):
            return _refused(404, f"no output {address} in this gallery")
        at = now_iso()
        entry = site.decisions.set_output(address, key=key, decision=decision, note=note,
                                          regenerate=bool(body.get("regenerate")), at=at)
        return JSONResponse({"ok": True, "entry": entry, "counts": site.decisions.count(shown)})

    async def image(request: Request) -> Response:
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        try:
            dataset, name = text(body, "dataset"), text(body, "image")
            reason, caption = text(body, "reason"), text(body, "caption")
        except ValueError as exc:
            return _refused(400, str(exc))
        if dataset not in site.datasets or name not in site.datasets[dataset]:
            return _refused(404, f"no training image {name!r} in dataset {dataset!r}")
        if caption is not None:
            try:
                json.loads(caption)
            except ValueError:
                return _refused(400, "the caption is not valid JSON")
        entry = site.decisions.set_image(dataset, name, exclude=bool(body.get("exclude")), reason=reason, caption=caption)
        return JSONResponse({"ok": True, "entry": entry})

    return Starlette(routes=[
        Route("/", page),
        Route("/sheet", sheet),
        Route("/files/{path:path}", files),
        Route("/api/decision", decide, methods=["POST"]),
        Route("/api/image", image, methods=["POST"]),
    ])
