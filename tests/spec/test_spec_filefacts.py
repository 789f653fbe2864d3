"""The image facts cache: a second validation stats files instead of reading them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bria_pipeline.spec import check_spec
from bria_pipeline.spec.image_facts import CACHE_DIR_ENV, CACHE_FILE, default_cache_dir, inspect_images, recheck_hashes, user_cache_root
from spec_helpers import Project, png_bytes


def test_second_validation_answers_every_image_from_the_cache(project: Project) -> None:
    spec = project.spec()
    cold = check_spec(spec)
    assert cold.ok and cold.preflight.misses == 6 and cold.preflight.hits == 0
    assert cold.preflight.bytes_read == sum(len(b) for b in project.images[:6])
    warm = check_spec(spec)
    assert warm.ok and warm.preflight.hits == 6 and warm.preflight.misses == 0 and warm.preflight.bytes_read == 0
    cache = json.loads((default_cache_dir(project.root) / CACHE_FILE).read_text())
    assert len(cache["files"]) == 6 and cache["spec_dir"] == str(project.root.resolve())
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


def test_validation_writes_nothing_beside_the_spec(project: Project) -> None:
    spec = project.spec()
    before = sorted(p.relative_to(project.root) for p in project.root.rglob("*"))
    assert check_spec(spec).ok and check_spec(spec).preflight.hits == 6
    assert sorted(p.relative_to(project.root) for p in project.root.rglob("*")) == before


def test_the_cache_lives_in_the_user_cache_directory_one_per_spec_directory(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_root() == tmp_path / "xdg" / "bria-pipeline"
    one, two = default_cache_dir(tmp_path / "repo-a"), default_cache_dir(tmp_path / "repo-b")
    assert one != two and one.parent == two.parent == tmp_path / "xdg" / "bria-pipeline" / "filefacts"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert default_cache_dir(tmp_path / "repo-a").parent == tmp_path / "mine" / "filefacts"


def test_without_a_home_directory_nothing_is_cached_and_validation_still_works(project: Project, monkeypatch) -> None:
    for name in (CACHE_DIR_ENV, "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: (_ for _ in ()).throw(RuntimeError("no home"))))
    assert user_cache_root() is None and default_cache_dir(project.root) is None
    spec = project.spec()
    assert check_spec(spec).ok and check_spec(spec).preflight.misses == 6  # read every time, trusted never


def test_a_file_rewritten_with_its_old_size_and_mtime_is_read_again(project: Project) -> None:
    spec = project.spec()
    first = check_spec(spec)
    path = project.root / "images" / "04.png"
    stat = path.stat()
    replacement = next(data for shade in range(100, 256) if len(data := png_bytes(shade=shade)) == stat.st_size)
    path.write_bytes(replacement)  # as `cp -p` or `rsync -t` would leave it: same size and mtime
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = check_spec(spec)
    assert again.preflight.misses == 1
    sha = {i.key: i.sha256 for i in again.desired.datasets["main"].images}
    assert sha["images/04.png"] != {i.key: i.sha256 for i in first.desired.datasets["main"].images}["images/04.png"]


def test_recheck_finds_a_poisoned_entry_and_drops_it(project: Project) -> None:
    spec = project.spec()
    check_spec(spec)
    cache_file = default_cache_dir(project.root) / CACHE_FILE
    raw = json.loads(cache_file.read_text())
    key = str((project.root / "images" / "02.png").resolve())
    truth = raw["files"][key]["sha256"]
    raw["files"][key]["sha256"] = "0" * 64
    cache_file.write_text(json.dumps(raw))
    poisoned = {i.key: i for i in check_spec(spec).desired.datasets["main"].images}
    assert poisoned["images/02.png"].sha256 == "0" * 64  # a cache that matches the file's stat is believed...
    wrong = recheck_hashes([(i.path, i.sha256) for i in poisoned.values()], default_cache_dir(project.root))
    assert wrong == [poisoned["images/02.png"].path]  # ...until the file is read where it matters
    fixed = {i.key: i.sha256 for i in check_spec(spec).desired.datasets["main"].images}
    assert fixed["images/02.png"] == truth


def test_recheck_does_not_read_again_what_this_process_just_read(project: Project, tmp_path: Path, monkeypatch) -> None:
    from bria_pipeline.spec import image_facts

    read: list[Path] = []
    real = image_facts._file_sha256
    monkeypatch.setattr(image_facts, "_file_sha256", lambda path: read.append(path) or real(path))
    check = check_spec(project.spec(), cache_dir=tmp_path / "cold")  # a cold cache: every file read here
    images = check.desired.datasets["main"].images
    os.utime(images[0].path)  # touched since: read again
    assert recheck_hashes([(i.path, i.sha256) for i in images], tmp_path / "cold") == []
    assert read == [images[0].path]
