"""Helpers the sandbox tests share: tokens, small real images, and a synchronous facade over
httpx.ASGITransport. A module of its own (not conftest) so that importing it is unambiguous."""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from typing import Any
from urllib.parse import urlsplit

import httpx
from contract_schemas import response_problems
from PIL import Image, PngImagePlugin

TOKEN = "token-org-a"
OTHER_TOKEN = "token-org-b"
TG = "/v1/tailored-gen"


def png_bytes(size: tuple[int, int] = (1024, 1024), colour: tuple[int, int, int] = (200, 40, 120),
              mode: str = "RGB", text: dict[str, str] | None = None, fmt: str = "PNG") -> bytes:
    image = Image.new(mode, size, colour if mode == "RGB" else (*colour, 0))
    out = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for key, value in (text or {}).items():
            info.add_text(key, value)
        image.save(out, format="PNG", pnginfo=info, compress_level=1)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


class Api:
    """A synchronous facade over httpx.AsyncClient(transport=ASGITransport(app)) for tests.

    Every /v1 and /v2 JSON response is checked against the contract's schema for its operation and
    status code (when ../shared/contract is present), so every test is also a contract test."""

    def __init__(self, app: Any, token: str | None = TOKEN, base_url: str = "http://sandbox.test") -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.token = token
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=30)

    def request(self, method: str, url: str, *, token: Any = "default", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        chosen = self.token if token == "default" else token
        if chosen is not None:
            headers["api_token"] = chosen
        response = self.loop.run_until_complete(self.client.request(method, url, headers=headers, **kwargs))
        path = urlsplit(url).path
        if path.startswith(("/v1/", "/v2/")) and "json" in response.headers.get("content-type", ""):
            problems = response_problems(method, path, response.status_code, response.json())
            assert not problems, f"{method} {path} -> {response.status_code} breaks the contract: {problems}"
        return response

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def as_token(self, token: str | None) -> Api:
        other = Api.__new__(Api)
        other.__dict__.update(self.__dict__)
        other.token = token
        return other

    def advance(self, seconds: float) -> None:
        response = self.post("/_sandbox/clock/advance", json={"seconds": seconds}, token=None)
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()

    # -- building blocks used by many tests ------------------------------------------------------

    def project(self, **overrides: Any) -> dict:
        body = {"project_name": "lucy-brand", "ip_type": "defined_character", "ip_medium": "illustration",
                "ip_name": "Lucy", "ip_description": "a girl with purple hair", **overrides}
        response = self.post(f"{TG}/projects", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def dataset(self, project_id: int, upload_type: str = "basic", name: str = "lucy-v1") -> dict:
        response = self.post(f"{TG}/datasets", json={"project_id": project_id, "name": name, "upload_type": upload_type})
        assert response.status_code == 201, response.text
        return response.json()

    def upload(self, dataset_id: int, data: bytes | None = None, **fields: Any) -> httpx.Response:
        body = {"file": b64(data if data is not None else png_bytes()), **fields}
        return self.post(f"{TG}/datasets/{dataset_id}/images", json=body)

    def schema_for(self, count: int = 5) -> str:
        images = [b64(png_bytes((256, 256), (40 * i, 90, 200 - 30 * i))) for i in range(count)]
        response = self.post(f"{TG}/generate_visual_schema", json={"images": images})
        assert response.status_code == 200, response.text
        return response.json()["visual_schema"]

    def completed_dataset(self, images: int = 5) -> tuple[dict, dict]:
        project = self.project()
        dataset = self.dataset(project["id"])
        schema = self.schema_for()
        assert self.put(f"{TG}/datasets/{dataset['id']}", json={"visual_schema": schema}).status_code == 200
        for i in range(images):
            response = self.upload(dataset["id"], png_bytes(colour=(10 * i, 100, 50)), image_name=f"pose-{i}.png")
            assert response.status_code == 201, response.text
        response = self.put(f"{TG}/datasets/{dataset['id']}", json={"status": "completed"})
        assert response.status_code == 200, response.text
        return project, response.json()

    def trained_model(self, mode: str = "expert", params: dict | None = None) -> dict:
        _, dataset = self.completed_dataset()
        model = self.post(f"{TG}/models", json={"name": "lucy-lora", "dataset_id": dataset["id"],
                                                "training_mode": mode}).json()
        response = self.post(f"{TG}/models/{model['id']}/start_training", json=params or {})
        assert response.status_code == 200, response.text
        self.advance(10)
        model = self.get(f"{TG}/models/{model['id']}").json()
        assert model["status"] == "Completed", model
        return model
