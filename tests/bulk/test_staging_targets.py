"""Staging targets that need no sandbox: the user's own uploader, and fsspec stores."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from bria_pipeline.bulk.errors import StagingError, StagingUnavailable
from bria_pipeline.bulk.staging import UrlTemplateTarget, probe_url, target_for
from bria_pipeline.bulk.zipbuild import build_zip
from bria_pipeline.model import StagingSpec

# An uploader as a user might write one: copies the file and logs each run with its arguments.
UPLOADER = """
import json, shutil, sys
src, dest_dir, name, log = sys.argv[1:5]
shutil.copyfile(src, f"{dest_dir}/{name}")
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.fixture
def dataset_zip(tmp_path, random_images):
    return build_zip(random_images(6, size=8_000), tmp_path / "build dir $HOME" / "dataset.zip")


def uploader(served: Path, log: Path) -> list[str]:
    return [sys.executable, "-c", UPLOADER, "{file}", str(served), "{name}", str(log)]


def runs(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_url_template_target_uploads_with_the_users_command_and_the_url_serves_the_zip(dataset_zip, static_server, tmp_path):
    served, base, _ = static_server
    log = tmp_path / "uploads.log"
    target = UrlTemplateTarget(f"{base}/{{name}}", uploader(served, log))
    url = asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert url == f"{base}/{dataset_zip.object_name}"
    assert (served / dataset_zip.object_name).read_bytes() == dataset_zip.path.read_bytes()
    assert asyncio.run(probe_url(url)) == dataset_zip.size
    # run without a shell: a path with spaces and "$HOME" arrives as one literal argument
    assert runs(log) == [[str(dataset_zip.path), str(served), dataset_zip.object_name, str(log)]]


def test_url_template_target_does_not_upload_a_zip_that_is_already_there(dataset_zip, static_server, tmp_path):
    served, base, requests = static_server
    log = tmp_path / "uploads.log"
    target = UrlTemplateTarget(f"{base}/{{name}}", uploader(served, log))
    first = asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    second = asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert first == second
    assert len(runs(log)) == 1
    assert all(method == "GET" for method, _ in requests)


def test_a_partial_object_of_the_same_name_is_uploaded_again(dataset_zip, static_server, tmp_path):
    served, base, _ = static_server
    (served / dataset_zip.object_name).write_bytes(dataset_zip.path.read_bytes()[:100])
    log = tmp_path / "uploads.log"
    target = UrlTemplateTarget(f"{base}/{{name}}", uploader(served, log))
    asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert len(runs(log)) == 1
    assert (served / dataset_zip.object_name).stat().st_size == dataset_zip.size


def test_a_url_template_that_misses_the_upload_fails_before_any_bulk_upload(dataset_zip, static_server, tmp_path):
    served, base, _ = static_server
    target = UrlTemplateTarget(f"{base}/elsewhere/{{name}}", uploader(served, tmp_path / "uploads.log"))
    with pytest.raises(StagingError) as err:
        asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert "serves nothing" in err.value.message
    assert "url_template" in err.value.hint


def test_a_failing_upload_command_reports_its_status_and_stderr(dataset_zip):
    command = [sys.executable, "-c", "import sys; sys.stderr.write('AccessDenied: bucket policy'); sys.exit(3)", "{file}"]
    target = UrlTemplateTarget("http://127.0.0.1:9/{name}", command)
    with pytest.raises(StagingError) as err:
        asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert "exited with status 3" in err.value.message
    assert "AccessDenied: bucket policy" in err.value.message


def test_a_missing_uploader_is_reported_with_a_hint(dataset_zip):
    target = UrlTemplateTarget("http://127.0.0.1:9/{name}", ["no-such-uploader-here", "{file}"])
    with pytest.raises(StagingError) as err:
        asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert "no-such-uploader-here" in err.value.message
    assert "install" in err.value.hint


def test_an_uploader_that_hangs_is_stopped_at_the_timeout(dataset_zip):
    command = [sys.executable, "-c", "import time; time.sleep(60)", "{file}"]
    target = UrlTemplateTarget("http://127.0.0.1:9/{name}", command, timeout=0.5)
    with pytest.raises(StagingError) as err:
        asyncio.run(target.stage(dataset_zip.path, dataset_zip.object_name))
    assert "did not finish" in err.value.message


@pytest.mark.parametrize(
    ("template", "command", "fragment"),
    [
        ("https://files.example.com/bria/latest.zip", ["cp", "{file}", "/srv"], "{name}"),
        ("https://files.example.com/{name}", "cp {file} /srv", "list of arguments"),
        ("https://files.example.com/{name}", ["upload-all"], "{file}"),
    ],
)
def test_bad_url_template_settings_are_refused_with_a_fix(template, command, fragment):
    with pytest.raises(StagingError) as err:
        UrlTemplateTarget(template, command)
    assert fragment in err.value.describe()


def test_missing_fsspec_is_reported_with_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(StagingUnavailable) as err:
        target_for(StagingSpec(kind="fsspec", base="s3://bucket/prefix"))
    assert "bria-pipeline[staging]" in err.value.hint


def test_sandbox_staging_outside_the_sandbox_is_refused_with_a_hint():
    with pytest.raises(StagingError) as err:
        target_for(StagingSpec(kind="sandbox"))
    assert "--sandbox" in err.value.hint
