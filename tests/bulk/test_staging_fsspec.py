"""Staging on an object store through fsspec (the optional 'staging' extra); skipped without it."""

from __future__ import annotations

import asyncio
import os

import pytest

from bria_pipeline.bulk.errors import StagingError
from bria_pipeline.bulk.staging import FsspecTarget, probe_url
from bria_pipeline.bulk.zipbuild import build_zip

fsspec = pytest.importorskip("fsspec", reason="fsspec (the 'staging' extra) is not installed")
from fsspec.implementations.local import LocalFileSystem  # noqa: E402


@pytest.fixture
def dataset_zip(tmp_path, random_images):
    return build_zip(random_images(6, size=8_000), tmp_path / "build" / "dataset.zip")


def test_fsspec_target_puts_the_zip_once_and_gives_its_public_url(dataset_zip, static_server):
    served, base, _ = static_server
    target = FsspecTarget(f"file://{served}/bria", public_url=f"{base}/bria/{{name}}")
    url = asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    stored = served / "bria" / dataset_zip.object_name
    assert url == f"{base}/bria/{dataset_zip.object_name}"
    assert stored.read_bytes() == dataset_zip.path.read_bytes()
    os.utime(stored, ns=(1_000_000_000, 1_000_000_000))  # a second upload would renew this
    assert asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name)) == url
    assert stored.stat().st_mtime_ns == 1_000_000_000


class _SigningLocal(LocalFileSystem):
    """A local store whose presigned URLs point at a 127.0.0.1 server, as s3fs's point at S3."""

    protocol = "signinglocal"
    served_at: str = ""
    root: str = ""

    def sign(self, path, expiration=100, **kwargs):
        rel = str(path)[len(self.root) :].lstrip("/")
        return f"{self.served_at}/{rel}?X-Expires={expiration}&X-Signature=abc123"


def test_fsspec_target_hands_out_a_presigned_url_valid_for_presign_seconds(dataset_zip, static_server, monkeypatch):
    served, base, _ = static_server
    monkeypatch.setattr(_SigningLocal, "served_at", base)
    monkeypatch.setattr(_SigningLocal, "root", str(served))
    fsspec.register_implementation("signinglocal", _SigningLocal, clobber=True)
    target = FsspecTarget(f"signinglocal://{served}/zips", presign_seconds=900)
    url = asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert url.startswith(f"{base}/zips/{dataset_zip.object_name}?")
    assert "X-Expires=900" in url
    assert asyncio.run(probe_url(url)) == dataset_zip.size


def test_fsspec_store_that_cannot_sign_needs_a_public_url(dataset_zip):
    target = FsspecTarget("memory://bria-test-nosign")
    with pytest.raises(StagingError) as err:
        asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert "cannot presign" in err.value.message
    assert "public_url" in err.value.hint
    assert fsspec.filesystem("memory").exists(f"/bria-test-nosign/{dataset_zip.object_name}")
