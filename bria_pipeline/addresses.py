"""Plan addresses, built and read in one place. An address names one thing a plan acts on:

    project
    dataset.<key>                      dataset.<key>.schema  .status  .captions  .images
    dataset.<key>.image[<name>]        dataset.<key>.caption[<name>]   dataset.<key>.version[<remote name>]
    model.<key>                        model.<key>.training            model.<key>.version[<remote name>]
    generation.<set>[<name>]           generation (the summary of every output)
    structured_prompt.<set>[<tail>]    video.<name>[<file>]

`parse` reads one back into its parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .output_names import short_key

PROJECT = "project"
GENERATION = "generation"


def _item(base: str, item: str | None) -> str:
    return base if item is None else f"{base}[{item}]"


def dataset(key: str, part: str | None = None) -> str:
    """``dataset.lucy``, or with `part` (schema, status, captions, images) ``dataset.lucy.schema``."""
    return f"dataset.{key}" if part is None else f"dataset.{key}.{part}"


def dataset_image(key: str, name: str) -> str:
    return f"dataset.{key}.image[{name}]"


def dataset_caption(key: str, name: str) -> str:
    return f"dataset.{key}.caption[{name}]"


def dataset_version(key: str, remote_name: str) -> str:
    return f"dataset.{key}.version[{remote_name}]"


def model(key: str) -> str:
    return f"model.{key}"


def training(key: str) -> str:
    return f"model.{key}.training"


def model_version(key: str, remote_name: str) -> str:
    return f"model.{key}.version[{remote_name}]"


def generation(set_name: str, tail: str) -> str:
    return f"generation.{set_name}[{tail}]"


def output(set_name: str, name: str, key: str | None = None) -> str:
    """``generation.places[beach-dawn-seed1]`` for the output named ``places/beach-dawn-seed1``;
    with `key`, an output known only by its record (no file): ``...[beach-dawn-seed1#1a2b3c4d]``."""
    tail = name.split("/", 1)[1] if "/" in name else name
    return generation(set_name, tail if key is None else f"{tail}#{short_key(key)}")


def structured_prompt(set_name: str, tail: str | None = None) -> str:
    return _item(f"structured_prompt.{set_name}", tail)


def video(name: str, file: str | None = None) -> str:
    return _item(f"video.{name}", file)


@dataclass(frozen=True)
class Address:
    """``model.lucy-lora.training`` -> kind "model", key "lucy-lora", part "training", item None;
    ``generation.places[beach-seed1]`` -> kind "generation", key "places", item "beach-seed1"."""

    kind: str
    key: str | None = None
    part: str | None = None
    item: str | None = None


def _top_dot(text: str) -> int:
    """The first "." outside brackets (a sweep member's key, ``icons[learning_rate=0.0001]``, has dots)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == "." and depth == 0:
            return i
    return -1


def _with_item(text: str) -> tuple[str, str | None]:
    if text.endswith("]") and "[" in text:
        head, _, item = text.partition("[")
        return head, item[:-1]
    return text, None


def parse(address: str) -> Address:
    """The parts of an address; raises ValueError for a string that is not one."""
    if address in (PROJECT, GENERATION):
        return Address(address)
    kind, dot, rest = address.partition(".")
    if address.count("[") != address.count("]"):
        raise ValueError(f"not a plan address: {address!r}")
    if not dot or not rest or kind not in ("dataset", "model", "generation", "structured_prompt", "video"):
        raise ValueError(f"not a plan address: {address!r}")
    if kind in ("dataset", "model"):
        cut = _top_dot(rest)
        if cut < 0:
            return Address(kind, rest)
        part, item = _with_item(rest[cut + 1:])
        return Address(kind, rest[:cut], part, item)
    key, item = _with_item(rest)
    return Address(kind, key, None, item)


def family(address: str) -> str:
    """The address up to its first ``[``: steps alike (``dataset.lucy.image[...]``) fold under it."""
    return address.split("[", 1)[0]
