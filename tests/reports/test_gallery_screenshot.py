"""The gallery opened from disk by a real browser (headless Chromium); skipped when none is installed."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import shutil
import subprocess

import pytest
from PIL import Image

from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.reports.gallery import write_gallery
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.generate.outputs import expand_outputs
from bria_pipeline.model import VideoRequest
from bria_pipeline.sandbox.rendering import render_video

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
COLOURS = {"beach": (250, 20, 20), "city": (20, 20, 250)}


@pytest.mark.skipif(BROWSER is None, reason="no Chromium installed")
@pytest.mark.timeout(90)
def test_gallery_renders_its_images_from_disk_in_a_browser(build, tmp_path):
    gen = build.generation(build.prompt_set(matrix={"place": ["beach", "city"]}, seeds=(1,)))
    manifest = Manifest(build.out)
    outs = expand_outputs(gen, build.models()).outputs
    for out in outs:
        path = build.out / f"{out.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (512, 512), COLOURS[out.request.variables[0][1]]).save(path)
        manifest.record_pending(out.key, None, **out.record_fields())
        manifest.record_done(out.key, file=f"{out.name}.png", sha256=sha256_file(path))
    index = write_gallery(build.out, manifest)
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
         "--window-size=1000,900", f"--screenshot={shot}", index.as_uri()],
        check=True, capture_output=True, timeout=80,
    )
    with Image.open(shot) as im:
        counts = im.convert("RGB").getcolors(1 << 24) or []
    seen = {
        colour: sum(n for n, pixel in counts if all(abs(a - b) < 30 for a, b in zip(pixel, colour)))
        for colour in COLOURS.values()
    }
    # Both thumbnails were loaded through their relative paths and drawn.
    assert all(count > 2000 for count in seen.values()), seen


# A copy of the page with this script at the end reports, in the DOM Chromium dumps, what a
# person would see: for each <video>, whether it loaded (readyState, error); for each card image,
# whether it was drawn and how wide; the links shown beside videos; the page's title.
PROBE = """
<script>
function report() {
  const out = {
    title: document.title,
    videos: [...document.querySelectorAll("video")].map(v => ({
      ready: v.readyState, error: v.error ? v.error.code : null, network: v.networkState, width: v.videoWidth})),
    images: [...document.querySelectorAll("figure.card img")].map(i => ({
      drawn: i.complete && i.naturalWidth > 0, width: Math.round(i.getBoundingClientRect().width)})),
    links: [...document.querySelectorAll("figure.card a.file, figure.card .note a")].map(a => ({
      href: a.getAttribute("href"), shown: a.offsetWidth > 0 && a.offsetHeight > 0})),
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
const videos = [...document.querySelectorAll("video")];
Promise.all(videos.map(v => new Promise(done => {
  if (v.readyState >= 1) return done();
  v.addEventListener("loadedmetadata", done); v.addEventListener("error", done, true);
  setTimeout(done, 5000);
}))).then(() => setTimeout(report, 100));
</script>
"""


def probe(index, tmp_path, width: int) -> dict:
    page = index.with_name("probe.html")
    page.write_text(index.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
         f"--user-data-dir={tmp_path / f'profile-{width}'}", f"--window-size={width},900",
         "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=8000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=80,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(BROWSER is None, reason="no Chromium installed")
@pytest.mark.timeout(120)
def test_videos_play_or_show_their_frame_with_a_link_and_cards_follow_the_window(build, tmp_path):
    """The sandbox's videos, both kinds: an MP4 (PyAV installed) is a player that loads; an MJPEG
    AVI (the plain install) is never a dead player but its source frame with a visible link."""
    containers = ["avi"] + (["mp4"] if importlib.util.find_spec("av") else [])
    gen = build.generation(build.prompt_set(matrix={"place": ["beach", "city"]}, seeds=(1, 2)),
                           videos=tuple(VideoRequest(f"walk-{c}", "lucy-lora", "places/beach-seed1", seed=n)
                                         for n, c in enumerate(containers)))
    manifest = Manifest(build.out)
    for out in expand_outputs(gen, build.models()).outputs:
        if out.kind == "video":
            container = out.name.rsplit("-", 1)[-1]
            with Image.open(build.out / "places" / "beach-seed1.png") as source:
                data, ext = render_video(source, 1, seconds=1, container=container)
            file = f"{out.name}.{ext}"
        else:
            data, file = None, f"{out.name}.png"
        path = build.out / file
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            Image.new("RGB", (512, 512), COLOURS[out.request.variables[0][1]]).save(path)
        else:
            path.write_bytes(data)
        manifest.record_pending(out.key, None, **out.record_fields())
        manifest.record_done(out.key, file=file, sha256=sha256_file(path))
    index = write_gallery(build.out, manifest, title="lucy-example · lucy/spec.yaml")

    narrow, wide = probe(index, tmp_path, 700), probe(index, tmp_path, 1600)
    assert narrow["title"] == "lucy-example · lucy/spec.yaml · generated outputs"
    for seen in (narrow, wide):
        assert len(seen["videos"]) == len(containers) - 1  # the AVI has no player
        for video in seen["videos"]:  # every player shown has loaded its video
            assert video["error"] is None and video["ready"] >= 1 and video["width"] > 0, video
        assert seen["images"] and all(i["drawn"] for i in seen["images"]), seen["images"]
        links = {link["href"]: link["shown"] for link in seen["links"]}
        assert all(links.values()) and {f"videos/walk-{c}.{c}" for c in containers} <= set(links), links
    # the thumbnails scale with the window: wider window, wider cards
    assert wide["images"][0]["width"] > narrow["images"][0]["width"] * 1.3, (narrow["images"], wide["images"])
