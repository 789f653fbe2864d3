"""Identity follows content: a training image renamed on disk (same bytes) is the same image, its
dataset the same dataset, and nothing is uploaded, trained or generated again. Versions named by
earlier releases (whose fingerprint hashed the file names) keep matching after an upgrade."""

from __future__ import annotations

import pytest
from scenario_helpers import (
    DATASET_NAME,
    LEGACY_DATASET_NAME,
    LEGACY_MODEL_NAME,
    MODEL_NAME,
    UPLOADS,
    changes,
    without_outputs,
)

from bria_pipeline.model import DesiredDataset

pytestmark = pytest.mark.timeout(60)

LISTS = {"GET /v1/tailored-gen/projects": 1, "GET /v1/tailored-gen/projects/{project_id}/datasets": 1,
         "GET /v1/tailored-gen/projects/{project_id}/models": 1}
LIST_IMAGES = "GET /v1/tailored-gen/datasets/{dataset_id}/images"


def _rename(team, old: str = "pose-06.png", new: str = "pose-06-summit.png") -> None:
    (team.dir / "images" / old).rename(team.dir / "images" / new)


def _moved(plan) -> list[tuple[str, str]]:
    return [(a.address, a.reason) for a in plan.moved]


def test_a_renamed_training_image_changes_nothing_remotely(team):
    _rename(team)
    desired = team.pipeline().desired
    assert desired.datasets["lucy"].remote_name == DATASET_NAME
    plan = team.plan()
    assert changes(plan) == []
    assert plan.billed == ()
    before = team.stats()
    result = team.apply(plan)
    assert result.steps == [] or all(s.status != "done" for s in result.steps)
    assert team.sent(before, team.stats()) == LISTS
    remote = team.project()
    assert list(remote["datasets"]) == [DATASET_NAME] and list(remote["models"]) == [MODEL_NAME]
    assert any(n.startswith("pose-06.") for n in remote["datasets"][DATASET_NAME]["images"])


def test_a_renamed_image_is_kept_under_its_name_when_a_new_version_is_cloned(team, tmp_path):
    """Renamed and another image added: the clone keeps the renamed one (shown as a rename), and
    uploads only the new image."""
    _rename(team)
    from PIL import Image

    image = Image.open(team.dir / "images" / "pose-01.png").convert("RGB")
    image.putpixel((1, 1), (250, 10, 10))
    image.save(team.dir / "images" / "pose-11.png")
    plan = team.plan()
    assert without_outputs(changes(plan))[:2] == [
        ("dataset.lucy", "replace"),
        ("dataset.lucy.image[images/pose-11.png]", "create"),
    ]
    assert [c for c in changes(plan) if "pose-06" in c[0]] == []
    [(address, reason)] = _moved(plan)
    assert address == "dataset.lucy.image[images/pose-06-summit.png]"
    assert reason.startswith(f"renamed on disk: same content as pose-06.")
    assert reason.endswith(f", already in {DATASET_NAME} (cloned); nothing to upload (the image keeps that name)")
    assert "1 file renamed on disk" in plan.summary_line()
    before = team.stats()
    team.apply(plan, auto_approve=True)
    sent = team.sent(before, team.stats())
    assert sent[UPLOADS] == 1
    assert "DELETE /v1/tailored-gen/datasets/{dataset_id}/images/{image_id}" not in sent
    assert not team.plan().has_changes


@pytest.fixture
def legacy_team(new_team, monkeypatch):
    """examples/lucy applied as the previous release did: datasets (and so models and outputs)
    named with the fingerprint that hashed the images' file names."""
    monkeypatch.setattr(DesiredDataset, "fingerprint", property(lambda self: self.legacy_fingerprint()))
    new_team.apply(auto_approve=True)
    monkeypatch.undo()
    return new_team


def test_versions_named_by_the_previous_release_keep_matching_and_a_rename_costs_nothing(legacy_team):
    team = legacy_team
    remote = team.project()
    # the names the previous release gave examples/lucy (asserted by its own tests)
    assert list(remote["datasets"]) == [LEGACY_DATASET_NAME] and list(remote["models"]) == [LEGACY_MODEL_NAME]

    # upgraded: the same spec plans nothing, at the no-op price of 3 list requests
    plan = team.plan()
    assert changes(plan) == []
    assert plan.requests == 3

    # then a file renamed on disk: shown as a rename, nothing sent but one more listing
    _rename(team)
    plan = team.plan()
    assert changes(plan) == []
    assert _moved(plan) == [(
        "dataset.lucy.image[images/pose-06-summit.png]",
        next(f"renamed on disk: same content as {n}, already in {LEGACY_DATASET_NAME}; nothing to upload "
             "(the image keeps that name)" for n in remote["datasets"][LEGACY_DATASET_NAME]["images"] if n.startswith("pose-06.")),
    )]
    assert plan.summary_line() == ("No changes. The remote matches the spec "
                                   "(1 file renamed on disk: same content, nothing to send).")
    before = team.stats()
    team.apply(plan)
    assert team.sent(before, team.stats()) == {**LISTS, LIST_IMAGES: 1}
    after = team.project()
    assert list(after["datasets"]) == [LEGACY_DATASET_NAME] and list(after["models"]) == [LEGACY_MODEL_NAME]
    assert after["datasets"] == remote["datasets"]
