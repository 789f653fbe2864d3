"""The dataset review sheet: every image, its caption, its problems; parsed back from HTML."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bria_pipeline.reports.review import DatasetReview, ReviewImage, problems, write_review_sheet
from html_tree import parse


def png(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (30, 120, 200)).save(path, "PNG")
    return path


CAPTION = '{"short_description": "Lucy waves", "objects": []}'


def sample(tmp_path: Path) -> DatasetReview:
    images = (
        ReviewImage("pose-01.aaaaaaaaaaaa.png", png(tmp_path / "images/pose-01.png", (1024, 1024)), CAPTION, "automatic",
                    key="images/pose-01.png", width=1024, height=1024),
        ReviewImage("pose-02.bbbbbbbbbbbb.png", png(tmp_path / "images/pose-02.png", (512, 400)),
                    '{"objects": [],   "short_description": "LUCY WAVES"}', "manual", key="images/pose-02.png",
                    width=512, height=400),
        ReviewImage("pose-03.cccccccccccc.png", png(tmp_path / "images/pose-03.png", (1024, 1024)), None, None,
                    key="images/pose-03.png", width=1024, height=1024),
        ReviewImage("pose-04.dddddddddddd.png", png(tmp_path / "images/pose-04.png", (1200, 1024)),
                    "Lucy <b>waves</b>, not JSON", "manual", flags=("caption refinement pending",), width=1200, height=1024),
    )
    return DatasetReview("lucy", images, remote_name="lucy-1a2b3c4d", status="draft", visual_schema='{"style": "flat"}')


def test_problems_finds_missing_invalid_duplicate_and_upscaled(tmp_path):
    found = problems(sample(tmp_path).images)
    assert found[0] == ["duplicate-looking caption (same as pose-02.bbbbbbbbbbbb.png)"]
    assert found[1] == [
        "duplicate-looking caption (same as pose-01.aaaaaaaaaaaa.png)",
        "small image, will be upscaled from 512x400",
    ]
    assert found[2] == ["no caption yet"]
    assert found[3] == ["caption refinement pending", "caption is not valid JSON"]


def test_review_sheet_shows_every_image_with_caption_source_and_flags(tmp_path):
    sheet = write_review_sheet(tmp_path / "review" / "lucy.html", sample(tmp_path))
    tree = parse(sheet)
    assert tree.scripts == 0
    rows = list(next(tree.root.iter("tbody")).iter("tr"))
    assert len(rows) == 4
    names = [next(r.iter("code")).all_text() for r in rows]
    assert names == ["pose-01.aaaaaaaaaaaa.png", "pose-02.bbbbbbbbbbbb.png", "pose-03.cccccccccccc.png", "pose-04.dddddddddddd.png"]
    # Thumbnails are embedded: the sheet stands alone.
    assert all(next(r.iter("img")).attrs["src"].startswith("data:image/jpeg;base64,") for r in rows)
    # Captions are pretty JSON, with their source.
    first_caption = next(n for n in rows[0].iter("td") if n.has_class("caption"))
    assert "automatic" in first_caption.all_text()
    assert '{\n  "short_description": "Lucy waves",\n  "objects": []\n}' in first_caption.all_text()
    assert "no caption yet" in rows[2].all_text()
    # User text is escaped, never markup.
    assert "<b>" not in sheet.read_text() and "Lucy <b>waves</b>, not JSON" in rows[3].all_text()
    flags = [[f.all_text() for f in r.iter("span") if f.has_class("flag")] for r in rows]
    assert flags[3] == ["caption refinement pending", "caption is not valid JSON"]
    assert all(rows[i].has_class("flagged") for i in range(4))
    header = next(tree.root.iter("header")).all_text()
    assert "4 image(s), 4 with problems" in header
    assert "lucy-1a2b3c4d" in tree.root.all_text() and "draft" in tree.root.all_text()


def test_large_datasets_link_local_files_relatively_instead_of_embedding(tmp_path):
    sheet = write_review_sheet(tmp_path / "out" / "review.html", sample(tmp_path), embed=False)
    tree = parse(sheet)
    srcs = [img.attrs["src"] for img in tree.root.iter("img")]
    assert srcs[0] == "../images/pose-01.png"
    assert all((sheet.parent / s).is_file() for s in srcs)


def test_several_datasets_on_one_sheet_each_get_a_section(tmp_path):
    one = sample(tmp_path)
    two = DatasetReview("props", (ReviewImage("cup.eeeeeeeeeeee.png", None, CAPTION, "automatic", url="https://cdn.example.com/cup.png"),))
    tree = parse(write_review_sheet(tmp_path / "r.html", [one, two]))
    sections = [s.attrs["id"] for s in tree.root.iter("section")]
    assert sections == ["dataset-lucy", "dataset-props"]
    url_img = list(tree.root.iter("img"))[-1]
    assert url_img.attrs["src"] == "https://cdn.example.com/cup.png"
