"""`bria-pipeline review SPEC`: the dataset review sheet from the spec and the sandbox's dataset,
before the dataset exists, after the upload, and after it is completed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.sandbox import create_app
from cli_helpers import run, write_spec
from review_sheet_rows import read_sheet

pytestmark = pytest.mark.timeout(120)


def remote_captions(spec_dir: Path) -> dict[str, tuple[str | None, str | None]]:
    """image_name -> (caption, caption_source), read from the spec's sandbox with a plain client."""
    app = create_app(spec_dir / ".bria" / "sandbox.sqlite")

    async def read() -> dict[str, tuple[str | None, str | None]]:
        async with AsyncBriaClient(transport=httpx.ASGITransport(app=app), sandbox=True) as client:
            found = {}
            for project in await client.list_projects():
                for dataset in await client.list_project_datasets(project.id):
                    for image in await client.list_images(dataset.id):
                        found[image.image_name] = (image.caption, image.caption_source)
            return found

    try:
        return asyncio.run(read())
    finally:
        app.state.sandbox.close()


def test_before_the_dataset_exists_every_image_is_flagged_and_the_manual_caption_shown(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="review-brand")
    out = tmp_path / "sheets" / "review.html"
    result = run("--sandbox", "review", str(spec), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert "dataset.lucy: 6 images, 6 flagged" in result.stderr
    sheet = read_sheet(out)
    assert len(sheet.headings) == 1 and "not created yet" in sheet.headings[0]
    rows = {r.key: r for r in sheet.rows}
    assert sorted(rows) == [f"images/pose-{i:02d}.png" for i in range(1, 7)]
    for key, row in rows.items():
        assert "not uploaded yet" in row.flags
        assert row.image_src and row.image_src.startswith("data:image/")  # the thumbnail travels with the page
        if key == "images/pose-02.png":
            assert row.source == "manual" and json.loads(row.caption or "") == {"subject": "Lucy waving", "background": "plain"}
            assert "manual caption from the spec, not sent yet" in row.flags
        else:
            assert row.caption is None and "no caption yet" in row.flags
    assert not remote_captions(spec.parent)  # review only reads: nothing was created


def test_after_the_upload_the_sheet_shows_the_captions_the_service_wrote(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="review-brand")
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    result = run("--sandbox", "review", str(spec))
    assert result.exit_code == 0, result.output
    default = spec.parent / ".bria" / "spec" / "review.html"
    assert result.stdout.strip() == str(default)
    sheet = read_sheet(default)
    assert "draft" in sheet.headings[0]
    remote = remote_captions(spec.parent)
    assert len(remote) == 6
    for row in sheet.rows:
        caption, source = remote[row.name]
        assert row.source == source and json.loads(row.caption or "") == json.loads(caption or "")
        assert row.flags == []
    assert {r.source for r in sheet.rows} == {"automatic", "manual"}
    assert "dataset.lucy: 6 images, 0 flagged" in result.stderr


def test_a_completed_dataset_is_listed_for_its_captions_and_spec_changes_are_flagged(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="review-brand", complete=True)
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    sheet = read_sheet(Path(run("--sandbox", "review", str(spec)).stdout.strip()))
    assert "completed" in sheet.headings[0]
    assert all(r.caption and not r.flags for r in sheet.rows)
    # one more image in the spec: a new dataset version, not uploaded yet
    write_spec(tmp_path / "brand", project="review-brand", complete=True, images=7)
    later = read_sheet(Path(run("--sandbox", "review", str(spec)).stdout.strip()))
    assert "not created yet" in later.headings[0]
    assert all("not uploaded yet" in r.flags for r in later.rows)


def test_an_image_the_dataset_holds_but_the_spec_dropped_is_flagged(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="review-brand", images=7)
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    (spec.parent / "images" / "pose-07.png").unlink()
    result = run("--sandbox", "review", str(spec))
    rows = {r.name: r for r in read_sheet(Path(result.stdout.strip())).rows}
    dropped = [r for r in rows.values() if r.name.startswith("pose-07.")]
    assert len(rows) == 7 and len(dropped) == 1
    assert dropped[0].flags == ["in the dataset, not in the spec"] and dropped[0].caption


def test_the_python_api_reviews_against_a_sandbox_handed_in(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="review-brand")
    app = create_app(tmp_path / "sandbox.sqlite", training_seconds=0.1)
    try:
        pipeline = Pipeline(spec, sandbox=True, transport=httpx.ASGITransport(app=app))
        before = pipeline.review_datasets()
        assert [i.flags for i in before[0].images][0] == ("not uploaded yet",)
        pipeline.apply(auto_approve=True)
        reviewed = pipeline.review_datasets()
        (review,) = reviewed
        assert review.status == "draft" and all(i.caption for i in review.images)
        assert reviewed.requests["mutating"] == 0 and reviewed.requests["total"] > 0  # review only reads
        written = pipeline.review(tmp_path / "r.html")
        assert len(read_sheet(written).rows) == 6
    finally:
        app.state.sandbox.close()


def test_review_without_a_token_says_what_to_do(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="review-brand")
    result = run("review", str(spec))
    assert result.exit_code == 1
    assert "BRIA_API_TOKEN" in result.stderr and "--sandbox" in result.stderr
