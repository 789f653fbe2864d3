"""A file-facts cache that disagrees with the files: the files win, before any request is sent.

The cache answers "what is this image's hash" from a file's stat. An entry that lies (edited by
hand or by a tool, on a file system that keeps every stamp) would make the plan see a changed
image; apply then reads the dataset's files again, finds the cache wrong and plans from the files.
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


def test_apply_with_a_poisoned_cache_reads_the_files_and_changes_nothing(team):
    lie = poison(team, "pose-03.png")
    fooled = team.plan()
    assert ("dataset.lucy", "replace") in changes(fooled)  # the plan believed the cache: a new version
    assert lie[:12] in str([a.step for a in fooled.actions])

    before_remote = team.remote()
    before = team.stats()
    result = team.apply(auto_approve=True)
    after = team.stats()
    assert after["mutating"] == before["mutating"]  # no clone, no upload, no training
    assert not [s for s in result.steps if s.status == "done"]
    assert any("images/pose-03.png hashed again" in note for note in result.notes), result.notes
    assert team.remote() == before_remote
    assert list(team.project()["datasets"]) == [DATASET_NAME]
    assert changes(team.plan()) == []  # the cache now holds the file's real hash


def test_a_saved_plan_made_from_a_poisoned_cache_is_refused_before_any_request(team):
    poison(team, "pose-05.png")
    saved = team.plan()
    assert changes(saved)
    before = team.stats()
    with pytest.raises(StalePlanError) as err:
        team.pipeline().apply(saved, auto_approve=True)
    assert "images/pose-05.png" in str(err.value) and "plan" in err.value.hint
    assert team.stats()["mutating"] == before["mutating"]
    assert changes(team.plan()) == []
