"""The gallery opened from disk by a real browser (headless Chromium); skipped when none is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image

from bria_pipeline.generate.output_files import sha256_file
from bria_pipeline.generate.gallery import write_gallery
from bria_pipeline.generate.manifest import Manifest
from bria_pipeline.generate.outputs import expand_outputs

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
