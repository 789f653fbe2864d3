"""The one bulk upload of an advanced dataset, against the real sandbox in-process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bria_pipeline.api import AsyncBriaClient, BadRequest
from bria_pipeline.bulk.advanced import upload_advanced_dataset
from bria_pipeline.bulk.errors import StagingError
from bria_pipeline.bulk.staging import SandboxStagingTarget
from bria_pipeline.bulk.upload import BulkUploadFailed, bulk_upload_dataset, member_keys
from bria_pipeline.model import DesiredDataset, VisualSchemaSpec
from bria_pipeline.sandbox.app import create_app
from bria_pipeline.sandbox.clock import ScaledClock
from bria_pipeline.sandbox.faults import FaultPlan

BASE = "http://sandbox.test"
BULK_POST = "POST /v1/tailored-gen/datasets/{dataset_id}/images/bulk-upload"
FAST_POLL = {"interval": 0.02, "max_interval": 0.05}


def dataset(images, **kw) -> DesiredDataset:
    return DesiredDataset(key="big", upload_type="advanced", images=tuple(images), visual_schema=VisualSchemaSpec(), **kw)


class Sandbox:
    """A sandbox app with its transport, a client on it, and its request counts."""

    def __init__(self, *, speed: float = 1.0, faults: FaultPlan | None = None) -> None:
        self.app = create_app(clock=ScaledClock(speed), faults=faults)
        self.transport = httpx.ASGITransport(app=self.app)
        self.client = AsyncBriaClient(BASE, "sandbox-token-1", transport=self.transport, sandbox=True)

    async def empty_dataset(self, upload_type: str = "advanced") -> int:
        project = await self.client.create_project("bulk-tests", ip_medium="illustration", ip_type="stylized_scene")
        created = await self.client.create_dataset(project.id, f"big-{upload_type}", upload_type=upload_type)
        return created.id

    async def routes(self) -> dict[str, int]:
        async with httpx.AsyncClient(transport=self.transport, base_url=BASE) as admin:
            return (await admin.get("/_sandbox/stats")).json()["routes"]

    def target(self) -> SandboxStagingTarget:
        return SandboxStagingTarget(BASE, transport=self.transport)


def test_progress_rises_to_completed_and_every_image_lands(png_images, tmp_path):
    images = png_images(24)
    seen = []

    async def main():
        sb = Sandbox(speed=0.1)
        dataset_id = await sb.empty_dataset()
        report = await upload_advanced_dataset(
            sb.client, dataset_id, dataset(images), target=sb.target(), work_dir=tmp_path / "zips",
            on_progress=seen.append, timeout=30, **FAST_POLL,
        )
        listed = await sb.client.list_images(dataset_id)
        return report, listed, await sb.routes()

    report, listed, routes = asyncio.run(main())
    assert report.ok and report.posted and report.done == 24 and report.total == 24
    assert sorted(i.image_name for i in listed) == sorted(i.remote_name for i in images)
    statuses = [p.status for p in seen]
    assert statuses[:2] == ["zipping", "staging"]
    assert statuses[-1] == "completed"
    service = [p for p in seen if p.status not in ("zipping", "staging")]
    counts = [p.processed for p in service]
    assert counts == sorted(counts), counts
    assert len(set(counts)) >= 3, f"progress seen only at {counts}"
    assert all(p.total == 24 for p in seen)
    assert routes[BULK_POST] == 1
    assert not list((tmp_path / "zips").glob("*.zip")), "the local zip is removed once staged"


def test_a_corrupt_image_comes_back_failed_under_its_own_file_name(png_images, make_image, tmp_path):
    good = png_images(6)
    broken = make_image("shoot/day2/IMG_0042.png", b"\x89PNG\r\n\x1a\n but the rest is not a PNG")

    async def main():
        sb = Sandbox(speed=4.0)
        dataset_id = await sb.empty_dataset()
        return await upload_advanced_dataset(
            sb.client, dataset_id, dataset(good + [broken]), target=sb.target(), work_dir=tmp_path, timeout=30, **FAST_POLL
        )

    report = asyncio.run(main())
    assert report.status == "completed" and report.done == 6 and report.failed == 1
    (failed,) = report.failed_images
    assert failed.filename == broken.remote_name
    assert failed.keys == ("shoot/day2/IMG_0042.png",)
    assert failed.error_code == 415
    assert failed.describe().startswith("shoot/day2/IMG_0042.png: ")
    assert not report.ok


def test_a_zip_of_only_bad_images_raises_with_every_file_named(make_image, tmp_path):
    bad = [make_image(f"junk/{n}.png", f"junk {n}".encode()) for n in ("a", "b")]

    async def main():
        sb = Sandbox(speed=4.0)
        dataset_id = await sb.empty_dataset()
        await upload_advanced_dataset(
            sb.client, dataset_id, dataset(bad), target=sb.target(), work_dir=tmp_path, timeout=30, **FAST_POLL
        )

    with pytest.raises(BulkUploadFailed) as err:
        asyncio.run(main())
    assert err.value.report.status == "failed"
    assert sorted(k for f in err.value.report.failed_images for k in f.keys) == ["junk/a.png", "junk/b.png"]
    assert "junk/a.png" in err.value.describe() and "new version" in err.value.describe()


def test_a_response_lost_after_commit_is_read_back_and_the_post_is_not_repeated(png_images, tmp_path):
    images = png_images(5)
    faults = FaultPlan(lose_response_rate=1.0, lose_response_routes=[BULK_POST])

    async def main():
        sb = Sandbox(speed=4.0, faults=faults)
        dataset_id = await sb.empty_dataset()
        report = await upload_advanced_dataset(
            sb.client, dataset_id, dataset(images), target=sb.target(), work_dir=tmp_path, timeout=30, **FAST_POLL
        )
        return report, await sb.routes(), sb.client.session.stats.adopted

    report, routes, adopted_by_client = asyncio.run(main())
    assert adopted_by_client == 1  # the answer was lost; the client read the status back
    assert report.ok and report.done == 5
    assert routes[BULK_POST] == 1


def test_without_the_clients_read_back_the_upload_reads_the_status_itself(png_images, tmp_path):
    images = png_images(5)
    faults = FaultPlan(lose_response_rate=1.0, lose_response_routes=[BULK_POST], lose_mode="502")

    async def main():
        sb = Sandbox(speed=4.0, faults=faults)
        sb.client.session.finders = {}  # the client now raises AmbiguousResult instead of reading back
        dataset_id = await sb.empty_dataset()
        report = await upload_advanced_dataset(
            sb.client, dataset_id, dataset(images), target=sb.target(), work_dir=tmp_path, timeout=30, **FAST_POLL
        )
        return report, await sb.routes()

    report, routes = asyncio.run(main())
    assert report.adopted and report.posted and report.ok
    assert routes[BULK_POST] == 1


def test_a_job_started_by_an_earlier_run_is_followed_without_building_or_posting(png_images, tmp_path):
    images = png_images(8)

    async def main():
        sb = Sandbox(speed=4.0)
        dataset_id = await sb.empty_dataset()
        url = await sb.target().stage(*await _built(images, tmp_path))
        await sb.client.bulk_upload(dataset_id, url)  # the earlier run, killed right after its POST

        async def must_not_build() -> str:
            raise AssertionError("the zip URL is needed only for a POST")

        report = await bulk_upload_dataset(
            sb.client, dataset_id, must_not_build, names=member_keys(images), total=8, timeout=30, **FAST_POLL
        )
        return report, await sb.routes()

    report, routes = asyncio.run(main())
    assert not report.posted and report.ok and report.done == 8
    assert routes[BULK_POST] == 1


def test_a_definite_refusal_is_raised_and_nothing_is_built(png_images, tmp_path):
    images = png_images(5)

    async def main():
        sb = Sandbox()
        dataset_id = await sb.empty_dataset(upload_type="basic")
        try:
            await upload_advanced_dataset(sb.client, dataset_id, dataset(images), target=sb.target(), work_dir=tmp_path)
        finally:
            routes = await sb.routes()
        return routes

    with pytest.raises(BadRequest) as err:
        asyncio.run(main())
    assert "advanced" in err.value.message
    assert not list(tmp_path.glob("*.zip"))


def test_a_ready_zip_url_is_used_as_it_is(png_images, tmp_path):
    images = png_images(6)

    async def main():
        sb = Sandbox(speed=4.0)
        url = await sb.target().stage(*await _built(images, tmp_path))
        dataset_id = await sb.empty_dataset()
        report = await upload_advanced_dataset(
            sb.client, dataset_id, dataset((), zip_url=url), target=None, work_dir=tmp_path / "unused",
            timeout=30, **FAST_POLL,
        )
        return url, report

    url, report = asyncio.run(main())
    assert report.zip_url == url and report.ok and report.done == 6
    assert report.total == 6  # known from the service's progress once it is under way
    assert not (tmp_path / "unused").exists()


def test_local_images_without_staging_are_refused_before_any_post(png_images, tmp_path):
    async def main():
        sb = Sandbox()
        dataset_id = await sb.empty_dataset()
        try:
            await upload_advanced_dataset(sb.client, dataset_id, dataset(png_images(5)), target=None, work_dir=tmp_path)
        finally:
            assert BULK_POST not in await sb.routes()

    with pytest.raises(StagingError) as err:
        asyncio.run(main())
    assert "staging:" in err.value.hint


async def _built(images, tmp_path):
    from bria_pipeline.bulk.zipbuild import build_zip

    built = await asyncio.to_thread(build_zip, images, tmp_path / "earlier.zip")
    return built.path, built.object_name
