"""What every command promises before it does anything: help with examples, completion, version,
the schema, exit codes for mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import jsonschema
import pytest

from bria_pipeline import __version__
from bria_pipeline.cli import main
from cli_helpers import REPO, SCRIPT, run, run_child
from example_spec import copy_example

pytestmark = pytest.mark.timeout(60)
needs_script = pytest.mark.skipif(not SCRIPT.exists(), reason="the bria-pipeline script is not installed here")


def every_command(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += every_command(command, path + (name,))
        else:
            found.append(path + (name,))
    return found


COMMANDS = every_command()


def test_the_command_tree_holds_every_documented_command() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"", "validate", "init", "schema", "plan", "apply", "destroy", "show", "refresh", "import", "review",
            "sandbox", "sandbox serve"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "bria-pipeline")
def test_every_command_and_group_help_shows_an_example(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    shown = " ".join(("bria-pipeline",) + command)
    assert shown in result.stdout.replace("bria-pipeline --sandbox", "bria-pipeline"), result.stdout


def test_top_level_help_says_how_to_complete_in_each_shell_and_what_exit_codes_mean() -> None:
    text = run("--help").stdout
    assert 'eval "$(_BRIA_PIPELINE_COMPLETE=bash_source bria-pipeline)"' in text
    assert 'eval "$(_BRIA_PIPELINE_COMPLETE=zsh_source bria-pipeline)"' in text
    assert "_BRIA_PIPELINE_COMPLETE=fish_source bria-pipeline | source" in text
    assert "0 ok; 1 error" in text and "2 changes" in text and "130 interrupted" in text


@needs_script
@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F"), ("zsh", "compdef"), ("fish", "complete --no-files")])
def test_the_completion_line_in_the_help_prints_a_completion_script(shell: str, marker: str) -> None:
    done = run_child(env={"_BRIA_PIPELINE_COMPLETE": f"{shell}_source"}, script=True)
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_BRIA_PIPELINE_COMPLETE" in done.stdout


@needs_script
def test_completion_offers_the_commands() -> None:
    done = run_child(env={"_BRIA_PIPELINE_COMPLETE": "bash_complete", "COMP_WORDS": "bria-pipeline pl", "COMP_CWORD": "1"},
                     script=True)
    assert done.returncode == 0
    assert done.stdout.split() == ["plain,plan"]


def test_version_prints_the_package_version_python_platform_and_extras() -> None:
    import platform

    result = run("--version")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and lines[0] == f"bria-pipeline, version {__version__}"
    assert lines[1].startswith(f"Python {platform.python_version()} ({platform.python_implementation()}) on ")
    assert platform.system() in lines[1]
    # the test extra installs fsspec and obstore: staging and the cloud backends show as installed
    assert lines[2].startswith("extras: ") and "staging yes" in lines[2] and "s3 yes" in lines[2]
    assert "test" not in lines[2]


def test_schema_prints_a_json_schema_that_accepts_the_example_spec() -> None:
    import yaml

    result = run("schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    spec = yaml.safe_load((REPO / "examples" / "lucy" / "spec.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(spec)


def test_bare_command_prints_the_help_and_exits_zero() -> None:
    result = run()
    assert result.exit_code == 0 and "Usage: bria-pipeline" in result.stdout


@pytest.mark.parametrize("args", [["plan", "--no-such-option", "x.yaml"], ["plan"], ["apply", "x.yaml", "--timeout", "soon"],
                                  ["--log-format", "yaml", "plan", "x.yaml"], ["no-such-command"]])
def test_usage_mistakes_exit_one_with_an_error_line_and_the_usage_as_hint(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and "\n  hint: usage: bria-pipeline" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_mistake_with_detailed_exitcode_is_never_taken_for_changes(tmp_path: Path) -> None:
    result = run("--sandbox", "plan", str(tmp_path / "spec.yaml"), "--detailed-exitcode", "--target")
    assert result.exit_code == 1


HEAVY = {"PIL", "rich", "filelock", "starlette", "uvicorn"}
WHAT_LOADED = """
import sys
from bria_pipeline.cli import main
try:
    main(sys.argv[1:], prog_name="bria-pipeline")
except SystemExit:
    pass
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


def loaded_by(*args: str, cwd: Path | None = None) -> set[str]:
    """The top-level packages imported by one CLI run, in a fresh interpreter."""
    done = run_child_code(WHAT_LOADED, *args, cwd=cwd)
    return set(done.stderr.strip().splitlines()[-1].split())


def run_child_code(code: str, *args: str, cwd: Path | None = None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd or REPO,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_help_imports_only_what_it_shows() -> None:
    loaded = loaded_by("--help")
    assert not loaded & HEAVY, loaded & HEAVY
    assert not loaded & {"httpx", "jsonschema", "jinja2", "yaml"}, "the help needs none of the pipeline's libraries"


def test_validate_imports_no_server_no_terminal_ui_and_no_http_client(tmp_path: Path) -> None:

    copy_example(tmp_path / "lucy")
    loaded = loaded_by("validate", str(tmp_path / "lucy" / "spec.yaml"))
    assert {"yaml", "jsonschema", "jinja2"} <= loaded  # it did validate
    assert not loaded & {"rich", "filelock", "starlette", "uvicorn", "httpx"}, loaded


def test_every_command_listed_in_the_help_says_what_its_own_help_says() -> None:
    from bria_pipeline.cli import COMMANDS as LISTED

    ctx = click.Context(main)
    for entry in LISTED:
        command = main.get_command(ctx, entry.name)
        assert command is not None and command.get_short_help_str(1000) == entry.short_help, entry.name
