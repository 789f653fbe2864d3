"""Plan addresses are built and read by one module, bria_pipeline/addresses.py."""

from __future__ import annotations

import pytest

from bria_pipeline import addresses
from bria_pipeline.addresses import Address, parse


def test_every_address_built_reads_back_into_its_parts() -> None:
    member = "icons[rank=32,learning_rate=0.0001]"  # a sweep member's key has dots and brackets
    cases = {
        addresses.PROJECT: Address("project"),
        addresses.GENERATION: Address("generation"),
        addresses.dataset("lucy"): Address("dataset", "lucy"),
        addresses.dataset("lucy", "schema"): Address("dataset", "lucy", "schema"),
        addresses.dataset_image("lucy", "pose.01.png"): Address("dataset", "lucy", "image", "pose.01.png"),
        addresses.dataset_caption("lucy", "pose-02.png"): Address("dataset", "lucy", "caption", "pose-02.png"),
        addresses.dataset_version("lucy", "lucy-1a2b"): Address("dataset", "lucy", "version", "lucy-1a2b"),
        addresses.model(member): Address("model", member),
        addresses.training(member): Address("model", member, "training"),
        addresses.model_version("lucy-lora", "lucy-lora-9f"): Address("model", "lucy-lora", "version", "lucy-lora-9f"),
        addresses.generation("places", "beach-dawn-seed1"): Address("generation", "places", None, "beach-dawn-seed1"),
        addresses.structured_prompt("library"): Address("structured_prompt", "library"),
        addresses.structured_prompt("library", "night"): Address("structured_prompt", "library", None, "night"),
        addresses.video("walk", "walk.mp4"): Address("video", "walk", None, "walk.mp4"),
    }
    assert list(cases)[7:9] == [f"model.{member}", f"model.{member}.training"]
    for address, parts in cases.items():
        assert parse(address) == parts, address
    assert addresses.family(addresses.dataset_image("lucy", "a.png")) == "dataset.lucy.image"


@pytest.mark.parametrize("text", ["", "models.lucy", "dataset", "dataset.", "generation.places[open"])
def test_a_string_that_is_no_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a plan address"):
        parse(text)
