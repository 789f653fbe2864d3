"""The documentation site builds with `mkdocs build --strict`: no broken link or anchor, no page
missing from the navigation, every generated reference part made. Then a reader's look at it: the
generated pages hold what they promise, and a broken link does fail the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, capture_output=True, text=True, timeout=240,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    pages = sorted(p.relative_to(ROOT / "docs").with_suffix("") for p in (ROOT / "docs").rglob("*.md"))
    for page in pages:
        html = site / ("index.html" if page.name == "index" and page.parent == Path(".") else page / "index.html")
        if page.name == "index" and page.parent != Path("."):
            html = site / page.parent / "index.html"
        assert html.is_file(), f"docs/{page}.md was not built"


def test_generated_reference_pages_hold_the_generated_parts(site: Path) -> None:
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "<!-- generated:" not in cli
    for text in ("bria-pipeline apply", "--auto-approve", "BRIA_PIPELINE_APPLY_CONCURRENCY", "bria-pipeline sandbox serve"):
        assert text in cli, text
    spec = (site / "reference" / "spec" / "index.html").read_text(encoding="utf-8")
    assert 'id="field-models-name-training-rank"' in spec and "lucy-example" in spec
    api = (site / "reference" / "python-api" / "index.html").read_text(encoding="utf-8")
    assert "bria_pipeline.pipeline.Pipeline" in api and "doc-signature" in api or "def plan" in api


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copytree(ROOT / "tools", copy / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    for name in ("bria_pipeline", "examples", "specs"):  # read by mkdocstrings and the generated parts
        (copy / name).symlink_to(ROOT / name)
    page = copy / "docs" / "guides" / "backends.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [a page](no-such-page.md) and [an anchor](sandbox.md#no-such-anchor).\n", encoding="utf-8")
    done = build(copy / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    log = done.stdout + done.stderr
    assert "no-such-page.md" in log and "no-such-anchor" in log
