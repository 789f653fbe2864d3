"""The plan never shows a change apply will not make, shows each change by what differs, and
summarises long lists with their count (`--show-all` for everything). Through the CLI, against
the sandbox."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import yaml

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.sandbox import LocalSandbox
from cli_helpers import EXAMPLE_IMAGES, run, write_spec
from example_spec import copy_example

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("BRIA_PIPELINE_CACHE_DIR", str(folder))
    return folder


def test_a_poisoned_file_facts_cache_does_not_shape_the_plan(tmp_path: Path, cache_dir: Path) -> None:
    spec = str(write_spec(tmp_path / "brand", project="poisoned", images=6, complete=True, model=True))
    assert run("--sandbox", "apply", spec, "--auto-approve").exit_code == 0
    assert "No changes" in run("--sandbox", "plan", spec).stdout
    (cache,) = cache_dir.rglob("filefacts.json")
    data = json.loads(cache.read_text())
    for number, facts in enumerate(data["files"].values()):  # each entry names content its file does not have
        facts["sha256"] = f"{number:064d}"
    cache.write_text(json.dumps(data))
    planned = run("--sandbox", "plan", spec, "--detailed-exitcode")
    assert planned.exit_code == 0, planned.stdout  # no change, as apply will find
    assert "No changes" in planned.stdout and "replace" not in planned.stdout.split("No changes")[0]
    applied = run("--sandbox", "apply", spec, "--auto-approve", "--detailed-exitcode")
    assert applied.exit_code == 0 and "0 done" in applied.stdout
    # the cache was put right: its entries are the files' own hashes again
    assert f"{0:064d}" not in cache.read_text()


def _captions(db: Path) -> dict[str, tuple[str | None, str | None]]:
    async def read() -> dict[str, tuple[str | None, str | None]]:
        with LocalSandbox(db) as sandbox:
            async with AsyncBriaClient(sandbox=True, transport=sandbox.transport()) as client:
                (project,) = await client.list_projects()
                (dataset,) = await client.list_project_datasets(project.id)
                return {i.image_name or "": (i.caption, i.caption_source) for i in await client.list_images(dataset.id)}

    return asyncio.run(read())


def test_a_caption_that_only_becomes_manual_is_shown_as_automatic_to_manual(tmp_path: Path, cache_dir: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="captions", images=6, manual_caption=False)
    made = run("--sandbox", "apply", str(spec), "--auto-approve", "--target", "dataset.lucy.captions")
    assert made.exit_code == 0, made.output
    captions = _captions(spec.parent / ".bria" / "sandbox.sqlite")
    automatic = {name.split(".")[0]: text for name, (text, source) in captions.items() if source == "automatic"}
    assert len(automatic) == 6
    # the spec now sets, as its own, exactly the captions the service made for four images
    chosen = sorted(automatic)[:4]
    block = {"captions": {f"images/{key}.png": {"caption": json.loads(automatic[key])} for key in chosen}}
    text = spec.read_text() + yaml.safe_dump({"x": block}, sort_keys=False).split("\n", 1)[1].replace("\n  ", "\n    ")
    spec.write_text(text.replace("\n  captions:", "\n    captions:"))
    planned = run("--sandbox", "plan", str(spec))
    assert planned.exit_code == 0, planned.output
    updates = re.findall(r"~ dataset\.lucy\.caption\[images/(pose-\d\d)\.png\]\n((?:        .*\n)+)", planned.stdout)
    assert sorted(key for key, _ in updates) == chosen, planned.stdout
    for _, body in updates:
        assert 'caption_source: "automatic" -> "manual"' in body
        for line in body.splitlines():  # no line prints the same before and after
            if " -> " in line:
                before, after = line.split(": ", 1)[1].split(" -> ")
                assert before != after, line


def test_a_long_prune_plan_is_summarised_with_its_count_and_show_all_lists_everything(tmp_path: Path,
                                                                                       cache_dir: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="pruned", images=6)
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    images = spec.parent / "images"
    kept = sorted(images.glob("*.png"))
    for extra in range(14):  # more images, uploaded, then dropped from the spec
        (images / f"extra-{extra:02d}.png").write_bytes(
            _varied(EXAMPLE_IMAGES / "pose-07.png", extra))
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    for extra in images.glob("extra-*.png"):
        extra.unlink()
    summarised = run("--sandbox", "plan", str(spec), "--prune")
    assert summarised.exit_code == 0, summarised.output
    full = run("--sandbox", "plan", str(spec), "--prune", "--show-all")
    removed = re.findall(r"extra-\d\d", full.stdout)
    assert len(set(removed)) == 14, full.stdout
    assert len(set(re.findall(r"extra-\d\d", summarised.stdout))) < 14
    assert re.search(r"and \d+ more like these \(plan --show-all lists them\)", summarised.stdout)
    assert len(summarised.stdout.splitlines()) < len(full.stdout.splitlines())
    assert kept


def _varied(source: Path, seed: int) -> bytes:
    """The example image with one pixel changed: another content, the same size."""
    from PIL import Image
    import io

    with Image.open(source) as image:
        image = image.convert("RGB")
        image.putpixel((seed, seed), (seed * 7 % 256, 3, 5))
        out = io.BytesIO()
        image.save(out, format="PNG")
    return out.getvalue()


def test_a_prune_of_many_outputs_is_folded_and_the_approval_line_counts_them(tmp_path: Path, cache_dir: Path) -> None:

    copy_example(tmp_path / "lucy")
    spec = tmp_path / "lucy" / "spec.yaml"
    assert run("--sandbox", "apply", str(spec), "--auto-approve").exit_code == 0
    text = spec.read_text()  # the spec keeps the portrait only: 8 images and the video are no longer asked for
    text = text[: text.index("    - name: places")] + text[text.index("    # A structured prompt"): text.index("  videos:")]
    spec.write_text(text)
    folded = run("--sandbox", "plan", str(spec), "--prune")
    full = run("--sandbox", "plan", str(spec), "--prune", "--show-all")
    assert folded.exit_code == full.exit_code == 0, folded.output
    deletes = re.findall(r"^\s+- ((?:generation|video)\.\S+)$", full.stdout, flags=re.M)
    assert len(deletes) == 9, full.stdout
    shown = re.findall(r"^\s+- ((?:generation|video)\.\S+)$", folded.stdout, flags=re.M)
    assert len(shown) < len(deletes)
    assert "more like these (plan --show-all lists them)" in folded.stdout
    approval = next(line for line in folded.stdout.splitlines() if "need approval" in line)
    assert approval.startswith("9 step(s) need approval") and approval.endswith(
        "and 5 more (plan --show-all lists them)")
    full_approval = next(line for line in full.stdout.splitlines() if "need approval" in line)
    assert all(address in full_approval for address in deletes)
    assert len(folded.stdout.splitlines()) < len(full.stdout.splitlines())
    # apply shows the plan it asks about the same way: folded, or every step with --show-all
    applied = run("--sandbox", "apply", str(spec), "--prune", "--auto-approve", "--show-all")
    assert applied.exit_code == 0, applied.output
    listed = re.findall(r"^\s+- ((?:generation|video)\.\S+)$", applied.stdout, flags=re.M)
    assert sorted(listed) == sorted(deletes) and "more like these" not in applied.stdout
