"""A file-facts cache that disagrees with the files: the files win, before any request is sent.

The cache answers "what is this image's hash" from a file's stat. An entry that lies (edited by
hand or by a tool, on a file system that keeps every stamp) would make the plan see a changed
image; plan and apply read the dataset's files again wherever the cache's facts would shape a
step, find the cache wrong and plan from the files: the plan never shows what apply will not do.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from scenario_helpers import DATASET_NAME, changes

from bria_pipeline.plan.errors import StalePlanError
from bria_pipeline.spec.image_facts import CACHE_FILE, default_cache_dir

pytestmark = pytest.mark.timeout(60)


def poison(team, key: str) -> str:
    """Give images/<key> another image's hash in the cache, keeping its size and stamps; returns the lie."""
    team.plan()  # validation fills the cache for this directory
    cache_file = default_cache_dir(team.dir.resolve()) / CACHE_FILE
    raw = json.loads(cache_file.read_text(encoding="utf-8"))
    entry = raw["files"][str((team.dir / "images" / key).resolve())]
    entry["sha256"] = hashlib.sha256(b"some other picture").hexdigest()
    cache_file.write_text(json.dumps(raw), encoding="utf-8")
    return entry["sha256"]


def test_plan_and_apply_with_a_poisoned_cache_read_the_files_and_change_nothing(team):
    lie = poison(team, "pose-03.png")
    before_remote = team.remote()
    before = team.stats()
    planned = team.plan()
    assert changes(planned) == []  # the files won: no new version, no training, no generation
    assert lie[:12] not in str([a.step for a in planned.actions])
    result = team.apply(auto_approve=True)
    after = team.stats()
    assert after["mutating"] == before["mutating"]  # no clone, no upload, no training
    assert not [s for s in result.steps if s.status == "done"]
    assert team.remote() == before_remote
    assert list(team.project()["datasets"]) == [DATASET_NAME]
    assert changes(team.plan()) == []  # the cache now holds the file's real hash


def test_a_saved_plan_whose_files_changed_back_is_refused_before_any_request(team):
    image = team.dir / "images" / "pose-05.png"
    original = image.read_bytes()
    image.write_bytes(_one_pixel_changed(image))  # other content, the same size in pixels
    saved = team.plan()
    assert changes(saved)
    image.write_bytes(original)  # the file is what the remote has again: the saved plan is stale
    before = team.stats()
    with pytest.raises(StalePlanError) as err:
        team.pipeline().apply(saved, auto_approve=True)
    assert "the saved plan is stale" in str(err.value) and "plan" in err.value.hint
    assert team.stats()["mutating"] == before["mutating"]
    assert changes(team.plan()) == []


def _one_pixel_changed(path) -> bytes:
    import io

    from PIL import Image

    with Image.open(path) as picture:
        picture = picture.convert("RGB")
        picture.putpixel((0, 0), (1, 2, 3))
        out = io.BytesIO()
        picture.save(out, format="PNG")
    return out.getvalue()
