"""Every shell and YAML example of the documentation either runs here or says why it cannot.

The blocks run in one shared workspace (a copy of the repository's examples/, specs/ and schemas/),
page by page in the site's navigation order, against the sandbox (BRIA_PIPELINE_SANDBOX=1 makes
every command run with --sandbox, no token in the environment): a command must exit 0, or 2 (changes
present, with --detailed-exitcode). A YAML block that is a spec, or a part of one, must validate.
Blocks marked `<!-- illustrative: REASON -->` are not run; the reason may not be empty. See
tests/docs/snippets.py for the markers, and docs/contributing/docs.md.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from snippets import DOCS, ROOT, Block, blocks, commands, pages

pytestmark = pytest.mark.timeout(300)

TESTED_ELSEWHERE = {"quickstart-command", "test-command"}  # README blocks run by tests/readme/


def nav_order() -> list[Path]:
    """Pages in the order of mkdocs.yml's nav (the quickstart first), then any other page."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)

    def walk(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in walk(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in walk(value)]
        return []

    ordered = [DOCS / p for p in walk(config["nav"])]
    return ordered + [p for p in pages() if p not in ordered]


def _readme_marker(block: Block) -> str | None:
    lines = block.page.read_text(encoding="utf-8").splitlines()[: block.line - 1]
    previous = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return next((name for name in TESTED_ELSEWHERE if previous == f"<!-- {name} -->"), None)


def checked_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if (b.shell or b.yaml) and not (page.name == "README.md" and _readme_marker(b))]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("docs-workspace")
    ignore = shutil.ignore_patterns(".bria", "outputs", "*.lock.yaml", "__pycache__")
    for name in ("examples", "specs", "schemas"):
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    fragments = work / "fragment"
    fragments.mkdir()
    shutil.copytree(ROOT / "examples" / "lucy" / "images", fragments / "images")
    return work


def environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BRIA_API_", "BRIA_BASE_URL", "BRIA_PIPELINE_"))}
    env.update({
        "BRIA_PIPELINE_SANDBOX": "1",
        "BRIA_PIPELINE_CACHE_DIR": str(work / ".cache"),
        "NO_COLOR": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "AWS_ACCESS_KEY_ID": "docs-tests", "AWS_SECRET_ACCESS_KEY": "docs-tests",
    })
    return env


def deep_merge(base: dict, part: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def spec_of(block: Block) -> dict | None:
    """The whole spec a YAML block stands for (None: not a spec, e.g. a lock file)."""
    data = yaml.safe_load(block.body)
    assert isinstance(data, dict), f"{block.where}: a YAML example must be a map"
    if block.marker == "spec-fragment" and block.arg:
        for key in reversed(block.arg.split(".")):
            data = {key: data}
    if "version" in data and "project" in data:
        return data
    base = yaml.safe_load((ROOT / "examples" / "lucy" / "spec.yaml").read_text(encoding="utf-8"))
    return deep_merge(base, data)


def validate(block: Block, path: Path) -> None:
    from bria_pipeline.spec import check_spec

    check = check_spec(path)
    problems = "\n".join(p.render() for p in check.errors)
    assert check.ok, f"{block.where}: the example does not validate:\n{problems}"


def run_yaml(block: Block, work: Path) -> None:
    if block.marker == "file":
        target = work / block.arg
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body, encoding="utf-8")
        # a spec written there is validated now; a decisions file (spec.decisions.yaml) is
        # validated with its spec by the shell block that follows it
        if "version" in (yaml.safe_load(block.body) or {}) and not target.name.endswith(".decisions.yaml"):
            validate(block, target)
        return
    spec = work / "fragment" / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_of(block), sort_keys=False), encoding="utf-8")
    validate(block, spec)


def run_shell(block: Block, work: Path) -> None:
    env = environment(work)
    for command in commands(block):
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=240, stdin=subprocess.DEVNULL)
        assert done.returncode in (0, 2), (
            f"{block.where}: `{command}` exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n"
            "fix the example, or mark it <!-- illustrative: REASON --> (docs/contributing/docs.md)")


PAGES = [p for p in nav_order() if any(b.marker != "illustrative" for b in checked_blocks(p))]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_examples_of_the_page_run_against_the_sandbox(page: Path, workspace: Path) -> None:
    for block in checked_blocks(page):
        if block.marker == "illustrative":
            continue
        if block.yaml:
            run_yaml(block, workspace)
        else:
            run_shell(block, workspace)


def test_every_illustrative_example_says_why() -> None:
    for page in pages():
        for block in blocks(page):
            if block.marker == "illustrative":
                assert len(block.arg) >= 8, f"{block.where}: <!-- illustrative: REASON --> needs a reason"


def test_every_code_block_names_its_language() -> None:
    """An unlabelled fence could hide a shell or YAML example from the checks above."""
    bare = [b.where for page in pages() for b in blocks(page) if not b.lang]
    assert not bare, f"code blocks without a language (use text for output): {bare}"


def test_markers_name_what_they_need() -> None:
    for page in pages():
        for block in blocks(page):
            if block.marker in ("file", "spec-fragment"):
                assert block.yaml, f"{block.where}: {block.marker} marks a YAML block"
            if block.marker == "file":
                assert block.arg and not Path(block.arg).is_absolute() and ".." not in block.arg, block.where


def count() -> tuple[int, int]:
    """(examples run, examples marked illustrative), for the docs' own figures."""
    run = illustrative = 0
    for page in pages():
        for block in checked_blocks(page):
            if block.marker == "illustrative":
                illustrative += 1
            else:
                run += 1
    return run, illustrative


if __name__ == "__main__":
    print("run: %d, illustrative: %d" % count())
