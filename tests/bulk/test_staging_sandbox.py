"""Staging against a sandbox served by uvicorn on 127.0.0.1, and a bulk upload from a user's own server."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from bria_pipeline.api import AsyncBriaClient
from bria_pipeline.bulk.advanced import upload_advanced_dataset
from bria_pipeline.bulk.errors import StagingError
from bria_pipeline.bulk.staging import SandboxStagingTarget, UrlTemplateTarget, probe_url, target_for
from bria_pipeline.bulk.zipbuild import build_zip
from bria_pipeline.model import DesiredDataset, StagingSpec, VisualSchemaSpec
from bria_pipeline.sandbox.app import create_app
from bria_pipeline.sandbox.clock import ScaledClock
from bria_pipeline.sandbox.server import running


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, with a log of what went through it."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def served_sandbox():
    with running(create_app(clock=ScaledClock(4.0))) as base_url:
        yield base_url


def test_second_stage_of_the_same_zip_sends_no_put(served_sandbox, random_images, tmp_path):
    built = build_zip(random_images(10, size=50_000), tmp_path / "d.zip")
    wire = CountingTransport()
    target = SandboxStagingTarget(served_sandbox, transport=wire)
    first = asyncio.run(target.stage(built.path, built.object_name))
    puts_after_first = [s for s in wire.sent if s[0] == "PUT"]
    second = asyncio.run(target.stage(built.path, built.object_name))
    assert first == second == f"{served_sandbox}/_sandbox/staging/{built.object_name}"
    assert len(puts_after_first) == 1
    assert [s for s in wire.sent if s[0] == "PUT"] == puts_after_first
    assert httpx.get(first, timeout=10).content == built.path.read_bytes()


def test_a_changed_dataset_is_staged_under_a_new_name_beside_the_old_one(served_sandbox, random_images, tmp_path):
    images = random_images(6)
    one = build_zip(images[:5], tmp_path / "one.zip")
    two = build_zip(images[1:], tmp_path / "two.zip")
    target = SandboxStagingTarget(served_sandbox)
    url_one = asyncio.run(target.stage(one.path, one.object_name))
    url_two = asyncio.run(target.stage(two.path, two.object_name))
    assert url_one != url_two
    assert asyncio.run(probe_url(url_one)) == one.size
    assert asyncio.run(probe_url(url_two)) == two.size


def test_staging_spec_sandbox_reaches_the_served_sandbox(served_sandbox, random_images, tmp_path):
    built = build_zip(random_images(5), tmp_path / "d.zip")
    target = target_for(StagingSpec(kind="sandbox"), sandbox_url=served_sandbox)
    assert asyncio.run(target.stage(built.path, built.object_name)).startswith(served_sandbox)


def test_a_sandbox_that_is_not_running_is_reported(random_images, tmp_path):
    built = build_zip(random_images(5), tmp_path / "d.zip")
    target = SandboxStagingTarget("http://127.0.0.1:9")
    with pytest.raises(StagingError) as err:
        asyncio.run(target.stage(built.path, built.object_name))
    assert "is the sandbox running" in err.value.hint


COPY = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])"


def test_bulk_upload_from_a_users_own_server_with_the_users_own_uploader(served_sandbox, static_server, png_images, tmp_path):
    served, files_url, requests = static_server
    images = png_images(7)
    target = UrlTemplateTarget(f"{files_url}/{{name}}", [sys.executable, "-c", COPY, "{file}", f"{served}/{{name}}"])

    async def main():
        async with AsyncBriaClient(served_sandbox, "sandbox-token-2", sandbox=True) as client:
            project = await client.create_project("own-server", ip_medium="photography", ip_type="other")
            created = await client.create_dataset(project.id, "big-1", upload_type="advanced")
            desired = DesiredDataset(key="big", upload_type="advanced", images=tuple(images), visual_schema=VisualSchemaSpec())
            return await upload_advanced_dataset(
                client, created.id, desired, target=target, work_dir=tmp_path / "zips", timeout=30,
                interval=0.05, max_interval=0.1,
            )

    report = asyncio.run(main())
    assert report.ok and report.done == 7
    assert report.zip_url.startswith(files_url)
    fetched = [path for method, path in requests if method == "GET" and path.endswith(".zip")]
    assert len(fetched) >= 2  # our read-back probe, then the service's download
