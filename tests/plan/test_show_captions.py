"""`show` describes captions by source, not by the API's captions_update_status alone (which
stays "empty" for captions the service wrote at upload)."""

from bria_pipeline.state.observed import ObservedDataset, ObservedImage
from bria_pipeline.reports.show import caption_summary


def test_captions_are_counted_by_source_when_the_images_were_listed() -> None:
    images = (
        ObservedImage(1, "a.111111111111.png", '{"a": 1}', "automatic"),
        ObservedImage(2, "b.222222222222.png", '{"b": 2}', "automatic"),
        ObservedImage(3, "c.333333333333.png", '{"c": 3}', "manual"),
        ObservedImage(4, "d.444444444444.png", None, None),
    )
    dataset = ObservedDataset(7, "lucy-1a2b3c4d", captions_update_status="empty", images=images)
    assert caption_summary(dataset) == "2 automatic, 1 manual, 1 missing"


def test_a_running_regeneration_is_said_as_such() -> None:
    dataset = ObservedDataset(7, "lucy-1a2b3c4d", captions_update_status="in_progress", images=())
    assert caption_summary(dataset) == "regenerating"


def test_nothing_is_claimed_when_the_images_were_not_listed() -> None:
    assert caption_summary(ObservedDataset(7, "lucy-1a2b3c4d", captions_update_status="empty")) is None
