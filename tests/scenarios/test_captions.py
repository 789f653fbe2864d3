"""Captions are sent once and shown as they are: a clone's copied captions are not sent again, a
changed structured caption shows the field that changed, and `review` calls a caption that was
sent and refined what it is."""

from __future__ import annotations

import pytest
from PIL import Image
from scenario_helpers import DATASET_NAME, changes, without_outputs

pytestmark = pytest.mark.timeout(60)

CAPTION_PUTS = "PUT /v1/tailored-gen/datasets/{dataset_id}/images/{image_id}"


def test_a_clone_sends_only_the_caption_that_changed(team):
    """A new drawing and a changed action: the new version is cloned with every caption; only
    pose-02's is sent, shown as the one field that changed."""
    image = Image.open(team.dir / "images" / "pose-01.png").convert("RGB")
    image.putpixel((3, 3), (250, 10, 10))
    image.save(team.dir / "images" / "pose-11.png")
    team.edit("action: walking to the left, arms swinging", "action: running to the right")
    plan = team.plan()
    assert [c for c in without_outputs(changes(plan)) if ".caption" in c[0]] == [
        ("dataset.lucy.captions", "wait"),
        ("dataset.lucy.caption[images/pose-02.png]", "update"),
    ]
    caption = plan.action("dataset.lucy.caption[images/pose-02.png]")
    assert caption.reason == "manual caption from the spec"
    assert [(c.attribute, c.old, c.new) for c in caption.changes] == [
        ("caption.action", "walking to the left, arms swinging", "running to the right"),
    ]
    before = team.stats()
    team.apply(plan, auto_approve=True)
    assert team.sent(before, team.stats())[CAPTION_PUTS] == 1
    assert not team.plan().has_changes


def test_review_does_not_call_a_sent_and_refined_caption_unsent(team):
    """pose-02's caption from the spec, refined: what was sent is the refined text (pinned)."""
    team.edit("          background: plain light blue sky over sand\n",
              "          background: plain light blue sky over sand\n        refine: Make the dress green\n")
    team.apply(auto_approve=True)
    [review] = team.pipeline().review_datasets()
    pose_02 = next(i for i in review.images if i.key == "images/pose-02.png")
    assert pose_02.caption_source == "manual"
    assert pose_02.flags == ()
    assert all("not sent yet" not in flag for image in review.images for flag in image.flags)
    assert review.remote_name != DATASET_NAME  # a new version was made for the refined caption
