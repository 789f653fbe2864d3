"""The HTML gallery, parsed back with html.parser: groups, grids, escaping, relative links."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from PIL import Image

from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.reports.gallery import write_gallery
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.generate.outputs import ModelRef, expand_outputs
from bria_pipeline.model import VideoRequest
from bria_pipeline.sandbox.rendering import render_video
from html_tree import parse


def png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "PNG")


def finish(manifest: Manifest, out, data_path: Path | None = None, ext: str = "png", **extra) -> None:
    file = f"{out.name}.{ext}"
    path = manifest.output_dir / file
    if data_path is None:
        png(path, (len(out.key) * 7 % 255, 80, 160))
    manifest.record_pending(out.key, None, **out.record_fields())
    manifest.record_pending(out.key, f"req-{out.key[:6]}")
    manifest.record_done(out.key, file=file, sha256=sha256_file(path), **extra)


def test_matrix_set_is_a_grid_by_its_first_two_variables_with_seeds_side_by_side(build):
    gen = build.generation(build.prompt_set())
    models = build.models()
    manifest = Manifest(build.out)
    outs = expand_outputs(gen, models).outputs
    for out in outs:
        finish(manifest, out)
    manifest.mark_current([o.key for o in outs])
    index = write_gallery(build.out, manifest)
    assert index == build.out / "index.html"
    tree = parse(index)
    assert tree.scripts == 0
    section = next(n for n in tree.root.iter("section") if n.attrs.get("id") == "set-places")
    assert "places" in next(section.iter("h2")).all_text()
    table = next(section.iter("table"))
    assert [th.all_text() for th in next(table.iter("thead")).iter("th")] == ["place \\ time", "dawn", "night"]
    rows = list(next(table.iter("tbody")).iter("tr"))
    assert [next(r.iter("th")).all_text() for r in rows] == ["beach", "city"]
    first_cell = next(rows[0].iter("td"))
    figures = list(first_cell.iter("figure"))
    assert [f.attrs["id"] for f in figures] == [f"o-{outs[0].key}", f"o-{outs[1].key}"]
    assert [next(f.iter("figcaption")).text[0].strip() for f in figures] == ["seed 1", "seed 2"]
    # Every link and image is relative and points at a file that exists.
    for node in tree.root.iter():
        for attr in ("href", "src", "poster"):
            value = node.attrs.get(attr)
            if value and not value.startswith("#"):
                assert "://" not in value and not value.startswith("/")
                assert (build.out / unquote(value)).is_file(), value
    # Each image's details name its prompt, seed and parameters.
    details = next(figures[0].iter("details"))
    text = details.all_text()
    assert "Lucy at the beach dawn" in text and "aspect_ratio" in text and "1:1" in text and "steps_num" in text


def test_prompts_and_names_are_escaped(build):
    evil = '<script>alert("x")</script> & <b>bold</b>'
    gen = build.generation(build.prompt_set("<img src=x onerror=alert(1)>", template=evil + " {place}", matrix={"place": ["<i>"]}, seeds=(1,)))
    models = build.models()
    manifest = Manifest(build.out)
    for out in expand_outputs(gen, models).outputs:
        finish(manifest, out, structured_prompt='{"note": "</pre><script>1</script>"}')
    index = write_gallery(build.out, manifest)
    raw = index.read_text()
    assert "<script>" not in raw and "<img src=x" not in raw and "<i>" not in raw
    assert "&lt;script&gt;alert(" in raw
    tree = parse(index)
    assert tree.scripts == 0
    assert evil in tree.root.all_text()  # shown to the reader as text, exactly


def test_sweep_members_are_shown_side_by_side_per_prompt(build):
    models = build.models(**{
        "lucy-lora[rank=32]": ModelRef("lucy-lora-aaaa1111", "2001", None),
        "lucy-lora[rank=64]": ModelRef("lucy-lora-bbbb2222", "2002", None),
    })
    gen = build.generation(
        build.prompt_set(matrix={"place": ["beach", "city"]}, seeds=(1,), model="lucy-lora[rank=32]"),
        build.prompt_set(matrix={"place": ["beach", "city"]}, seeds=(1,), model="lucy-lora[rank=64]"),
    )
    manifest = Manifest(build.out)
    outs = expand_outputs(gen, models).outputs
    for out in outs:
        finish(manifest, out)
    manifest.mark_current([o.key for o in outs])
    tree = parse(write_gallery(build.out, manifest))
    table = next(n for n in tree.root.iter("table") if n.has_class("sweep"))
    assert [th.all_text() for th in next(table.iter("thead")).iter("th")] == ["prompt", "lucy-lora[rank=32]", "lucy-lora[rank=64]"]
    rows = list(next(table.iter("tbody")).iter("tr"))
    assert [next(r.iter("th")).text[0] for r in rows] == ["place=beach · seed 1", "place=city · seed 1"]
    assert [next(r.iter("div")).all_text() for r in rows] == ["Lucy at the beach ", "Lucy at the city "]
    beach_cells = list(rows[0].iter("td"))
    srcs = [next(c.iter("a")).attrs["href"] for c in beach_cells]
    assert srcs == ["places/rank-32/beach-seed1.png", "places/rank-64/beach-seed1.png"]


def test_videos_get_players_and_retired_outputs_are_listed_apart(build):
    models = build.models()
    images = build.prompt_set(seeds=(1,), matrix={"place": ["beach"]})
    gen = build.generation(images, build.prompt_set("old", template="gone", matrix={}, seeds=(1,)),
                           videos=(VideoRequest("walk", "lucy-lora", "places/beach-seed1"),))
    manifest = Manifest(build.out)
    outs = expand_outputs(gen, models).outputs
    for out in outs:
        if out.kind == "video":
            (build.out / "videos").mkdir(parents=True, exist_ok=True)
            (build.out / "videos" / "walk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
            finish(manifest, out, data_path=build.out / "videos" / "walk.mp4", ext="mp4")
        else:
            finish(manifest, out)
    manifest.mark_current([o.key for o in outs if o.set_name != "old"])
    tree = parse(write_gallery(build.out, manifest))
    video = next(tree.root.iter("video"))
    assert "controls" in video.attrs and video.attrs["poster"].startswith(".thumbs/")
    assert [(s.attrs["src"], s.attrs["type"]) for s in video.iter("source")] == [("videos/walk.mp4", "video/mp4")]
    card = video.parent
    assert [a.attrs["href"] for a in card.iter("a") if a.has_class("file")] == ["videos/walk.mp4"]  # visible, not fallback
    retired = next(n for n in tree.root.iter("section") if n.attrs.get("id") == "retired")
    assert "old/seed1" in retired.all_text()
    assert not any(n.attrs.get("id") == "set-old" for n in tree.root.iter("section"))


def test_pending_and_failed_outputs_hold_their_place_in_the_grid(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach", "city", "park"]}))
    models = build.models()
    manifest = Manifest(build.out)
    beach, city, park = expand_outputs(gen, models).outputs
    finish(manifest, beach)
    manifest.record_pending(city.key, None, **city.record_fields())
    manifest.record_pending(city.key, "req-city")
    manifest.record_pending(park.key, None, **park.record_fields())
    manifest.record_failed(park.key, "422 <moderation>")
    tree = parse(write_gallery(build.out, manifest))
    placeholders = [n.all_text() for n in tree.root.iter("div") if n.has_class("placeholder")]
    assert placeholders == ["pending (request req-city)", "failed: 422 <moderation>"]
    header = next(tree.root.iter("header")).all_text()
    assert "1 output(s), 1 pending, 1 failed" in header


def test_thumbnails_are_made_once_and_reused(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}))
    manifest = Manifest(build.out)
    (out,) = expand_outputs(gen, build.models()).outputs
    png(build.out / f"{out.name}.png", (200, 10, 10), size=(1024, 768))
    finish(manifest, out, data_path=build.out / f"{out.name}.png")
    write_gallery(build.out, manifest)
    (thumb,) = (build.out / ".thumbs").iterdir()
    with Image.open(thumb) as im:
        assert max(im.size) == 320
    first_mtime = thumb.stat().st_mtime_ns
    write_gallery(build.out, manifest)
    assert thumb.stat().st_mtime_ns == first_mtime


def test_an_empty_manifest_gives_a_page_that_says_so(build):
    tree = parse(write_gallery(build.out, Manifest(build.out)))
    assert "No outputs yet" in tree.root.all_text()


def test_three_variables_make_one_grid_per_value_of_the_third(build):
    gen = build.generation(build.prompt_set(template="{place} {time} {mood}", matrix={"place": ["beach"], "time": ["dawn", "night"], "mood": ["calm", "wild"]}, seeds=(1,)))
    manifest = Manifest(build.out)
    for out in expand_outputs(gen, build.models()).outputs:
        finish(manifest, out)
    tree = parse(write_gallery(build.out, manifest))
    assert [h.all_text() for h in tree.root.iter("h3")] == ["mood=calm", "mood=wild"]
    assert len([t for t in tree.root.iter("table") if t.has_class("matrix")]) == 2


def test_structured_prompt_is_shown_pretty_printed(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={}))
    manifest = Manifest(build.out)
    (out,) = expand_outputs(gen, build.models()).outputs
    finish(manifest, out, structured_prompt='{"short_description":"Lucy","objects":[]}')
    tree = parse(write_gallery(build.out, manifest))
    pres = [p.all_text() for p in tree.root.iter("pre")]
    assert '{\n  "short_description": "Lucy",\n  "objects": []\n}' in pres


def test_a_video_browsers_cannot_play_is_its_source_frame_with_a_visible_link_never_a_player(build):
    models = build.models()
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}),
                           videos=(VideoRequest("walk", "lucy-lora", "places/beach-seed1"),))
    manifest = Manifest(build.out)
    for out in expand_outputs(gen, models).outputs:
        if out.kind == "video":  # named .mp4, but an MJPEG AVI by content: the content decides
            (build.out / "videos").mkdir(parents=True, exist_ok=True)
            (build.out / "videos" / "walk.mp4").write_bytes(b"RIFF\x10\x00\x00\x00AVI LIST")
            finish(manifest, out, data_path=build.out / "videos" / "walk.mp4", ext="mp4")
        else:
            finish(manifest, out)
    tree = parse(write_gallery(build.out, manifest, title="lucy-example · lucy/spec.yaml"))
    assert not list(tree.root.iter("video"))
    card = next(f for f in tree.root.iter("figure") if "walk" in f.all_text())
    frame = next(a for a in card.iter("a") if a.has_class("frame"))
    assert frame.attrs["href"] == "videos/walk.mp4" and next(frame.iter("img")).attrs["src"].startswith(".thumbs/")
    note = next(d for d in card.iter("div") if d.has_class("note"))
    assert "AVI video, which browsers do not play inline" in note.all_text()
    assert next(note.iter("a")).attrs["href"] == "videos/walk.mp4"
    assert next(tree.root.iter("title")).all_text() == "lucy-example · lucy/spec.yaml · generated outputs"


def test_an_avi_whose_source_image_is_gone_shows_its_own_first_frame(build):
    gen = build.generation(build.prompt_set(seeds=(1,), matrix={"place": ["beach"]}),
                           videos=(VideoRequest("walk", "lucy-lora", "places/beach-seed1"),))
    manifest = Manifest(build.out)
    for out in expand_outputs(gen, build.models()).outputs:
        if out.kind == "video":
            data, ext = render_video(Image.new("RGB", (300, 200), (30, 160, 60)), 1, seconds=1, container="avi")
            (build.out / "videos").mkdir(parents=True, exist_ok=True)
            (build.out / "videos" / "walk.avi").write_bytes(data)
            finish(manifest, out, data_path=build.out / "videos" / "walk.avi", ext=ext)
        else:
            finish(manifest, out)
            (build.out / f"{out.name}.png").unlink()  # the source image is gone
    tree = parse(write_gallery(build.out, manifest))
    card = next(f for f in tree.root.iter("figure") if "walk" in f.all_text())
    src = next(next(a for a in card.iter("a") if a.has_class("frame")).iter("img")).attrs["src"]
    with Image.open(build.out / src) as thumb:
        assert thumb.format == "JPEG" and thumb.getpixel((thumb.width // 2, thumb.height // 3))[1] > 120  # the green frame
    write_gallery(build.out, manifest)
    assert (build.out / src).is_file()  # kept by the next gallery's sweep
