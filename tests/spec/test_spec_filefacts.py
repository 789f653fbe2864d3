"""The image facts cache: a second validation stats files instead of reading them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bria_pipeline.spec import check_spec
from bria_pipeline.spec.image_facts import CACHE_FILE, inspect_images
from spec_helpers import Project, png_bytes


def test_second_validation_answers_every_image_from_the_cache(project: Project) -> None:
    spec = project.spec()
    cold = check_spec(spec)
    assert cold.ok and cold.preflight.misses == 6 and cold.preflight.hits == 0
    assert cold.preflight.bytes_read == sum(len(b) for b in project.images[:6])
    warm = check_spec(spec)
    assert warm.ok and warm.preflight.hits == 6 and warm.preflight.misses == 0 and warm.preflight.bytes_read == 0
    cache = json.loads((project.root / ".bria" / CACHE_FILE).read_text())
    assert len(cache["files"]) == 6
    assert warm.desired.datasets == cold.desired.datasets


def test_a_changed_file_is_read_again(project: Project) -> None:
    spec = project.spec()
    before = {i.key: i.sha256 for i in check_spec(spec).desired.datasets["main"].images}
    changed = project.image("images/03.png", png_bytes(shade=120))
    os.utime(changed, ns=(1, 1))  # even an older mtime: size and mtime differ from the cache
    again = check_spec(spec)
    assert again.preflight.misses == 1 and again.preflight.hits == 5
    after = {i.key: i.sha256 for i in again.desired.datasets["main"].images}
    assert [k for k in before if before[k] != after[k]] == ["images/03.png"]


def test_a_cached_fact_is_never_trusted_for_a_file_of_another_size(project: Project) -> None:
    spec = project.spec()
    check_spec(spec)
    path = project.root / "images" / "02.png"
    stat = path.stat()
    path.write_bytes(project.images[1] + b"tail")  # same name, different size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = check_spec(spec)
    assert again.preflight.misses == 1


def test_known_problems_are_cached_too(project: Project) -> None:
    project.image("images/07.png", b"not an image")
    spec = project.spec()
    first = check_spec(spec)
    second = check_spec(spec)
    assert not first.ok and second.preflight.hits == 7
    assert [p.message for p in first.errors] == [p.message for p in second.errors]


def test_cold_inspection_uses_several_workers_and_agrees_with_one(tmp_path: Path, image_bytes: list[bytes]) -> None:
    paths = []
    for i, data in enumerate(image_bytes):
        path = tmp_path / f"{i}.png"
        path.write_bytes(data)
        paths.append(path)
    many, stats_many = inspect_images(paths, tmp_path / "a", workers=4)
    one, stats_one = inspect_images(paths, tmp_path / "b", workers=1)
    assert many == one and stats_many.misses == stats_one.misses == len(paths)


def test_an_unwritable_cache_directory_does_not_fail_validation(project: Project, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    check = check_spec(project.spec(), cache_dir=blocker / "cache")
    assert check.ok and check.preflight.misses == 6
