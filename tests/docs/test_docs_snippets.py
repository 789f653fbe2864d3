"""Every shell and YAML example of the documentation either runs here or says why it cannot.

The blocks run in one shared workspace (a copy of the repository's examples/, specs/ and schemas/),
page by page in the site's navigation order, against the sandbox (BRIA_PIPELINE_SANDBOX=1 makes
every command run with --sandbox, no token in the environment): a command must exit 0, or 2 (changes
present, with --detailed-exitcode). A `bria-pipeline` command (or several joined by `&&`, stdout
sent to a file with `>`) runs in this process, its sandbox on one ManualClock for the workspace, so
a training or a rate limit takes no wall time; any other command runs in bash. A YAML block that is a spec, or a part of one, must validate.
Blocks marked `<!-- illustrative: REASON -->` are not run; the reason may not be empty. See
tests/docs/snippets.py for the markers, and docs/contributing/docs.md.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sandbox_time import driven_cli_time
from snippets import DOCS, ROOT, Block, blocks, commands, pages

from bria_pipeline.cli import main
from bria_pipeline.cli.pipeline_options import SandboxTime, sandbox_time

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


@pytest.fixture(scope="module")
def workspace_time() -> SandboxTime:
    """One clock for the workspace's sandbox, whose database the pages share in turn."""
    return driven_cli_time()


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


# expansions, pipes, globs, subshells, a background job, redirections other than `> FILE`: bash's to run
SHELL_ONLY = re.compile(r"[$`|;<(){}*?~\\]|(?<!&)&(?!&)|\S>|>>|>&")


def in_process_steps(command: str) -> list[tuple[list[str], str | None]] | None:
    """`bria-pipeline ARGS [> FILE] [&& bria-pipeline ARGS [> FILE] ...]` as (ARGS, FILE) steps; None
    for any other command line (bash runs it)."""
    if SHELL_ONLY.search(command.split(" #")[0]):
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars="&>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    steps: list[tuple[list[str], str | None]] = []
    for part in " ".join(shlex.quote(w) if w not in ("&&", ">") else w for w in lexer).split(" && "):
        words = shlex.split(part)
        target = None
        if words[-2:-1] == [">"]:
            words, target = words[:-2], words[-1]
        if not words or words[0] != "bria-pipeline" or ">" in words or "&&" in words:
            return None
        steps.append((words[1:], target))
    return steps


def run_in_process(steps: list[tuple[list[str], str | None]], work: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """The steps through the CLI's own entry point in this process, in `work` with `env` only (as
    bash would run them); the first failing step ends the line, as `&&` does."""
    overlay: dict[str, str | None] = {name: None for name in os.environ if name not in env}
    overlay.update(env)
    before = Path.cwd()
    os.chdir(work)
    try:
        for args, target in steps:
            done = CliRunner().invoke(main, args, env=overlay, prog_name="bria-pipeline")
            if target is not None:
                (work / target).write_bytes(done.stdout_bytes)
            if done.exception is not None and not isinstance(done.exception, SystemExit):
                return 1, done.stdout, f"{done.stderr}\n{done.exception!r}"
            if done.exit_code != 0:
                return done.exit_code, done.stdout, done.stderr
        return 0, done.stdout, done.stderr
    finally:
        os.chdir(before)


def run_shell(block: Block, work: Path, clocks: SandboxTime) -> None:
    env = environment(work)
    for command in commands(block):
        steps = in_process_steps(command)
        if steps is not None:
            with sandbox_time(clocks):
                code, out, err = run_in_process(steps, work, env)
        else:
            done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                                  timeout=240, stdin=subprocess.DEVNULL)
            code, out, err = done.returncode, done.stdout, done.stderr
        assert code in (0, 2), (
            f"{block.where}: `{command}` exited {code}\n{out[-3000:]}\n{err[-3000:]}\n"
            "fix the example, or mark it <!-- illustrative: REASON --> (docs/contributing/docs.md)")


PAGES = [p for p in nav_order() if any(b.marker != "illustrative" for b in checked_blocks(p))]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_examples_of_the_page_run_against_the_sandbox(page: Path, workspace: Path, workspace_time: SandboxTime) -> None:
    for block in checked_blocks(page):
        if block.marker == "illustrative":
            continue
        if block.yaml:
            run_yaml(block, workspace)
        else:
            run_shell(block, workspace, workspace_time)


def test_a_command_run_in_process_fails_its_page_and_writes_what_it_redirects(tmp_path: Path) -> None:
    """The in-process runner is held to what bash would do: exit codes stand, `>` writes stdout."""
    clocks = driven_cli_time()
    good = Block(ROOT / "README.md", 1, "bash", "bria-pipeline schema > spec.schema.json && bria-pipeline schema --plan > plan.json\n", None, "")
    assert in_process_steps(commands(good)[0]) is not None
    run_shell(good, tmp_path, clocks)
    assert yaml.safe_load((tmp_path / "spec.schema.json").read_text(encoding="utf-8"))["$schema"]
    assert yaml.safe_load((tmp_path / "plan.json").read_text(encoding="utf-8"))["$schema"]
    bad = Block(ROOT / "README.md", 1, "bash", "bria-pipeline validate no-such/spec.yaml\n", None, "")
    with pytest.raises(AssertionError, match="no-such/spec.yaml` exited 1"):
        run_shell(bad, tmp_path, clocks)


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
