"""Conventions of a good command line, through the CLI: did-you-mean, global options listed once,
commands grouped by task, FORCE_COLOR, GitHub annotations from validate, aligned tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli_helpers import run, run_child, write_spec

pytestmark = pytest.mark.timeout(120)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("typed, meant", [(["aply", "spec.yaml"], "bria-pipeline apply"),
                                          (["valdate"], "bria-pipeline validate"),
                                          (["state", "psuh"], "bria-pipeline state push"),
                                          (["sandbox", "srve"], "bria-pipeline sandbox serve")])
def test_a_mistyped_command_gets_a_suggestion(typed: list[str], meant: str) -> None:
    result = run(*typed)
    assert result.exit_code == 1
    assert f"No such command '{typed[-1] if typed[0] in ('state', 'sandbox') else typed[0]}'" in result.stderr
    assert f"hint: did you mean `{meant}`?" in result.stderr


def test_help_groups_commands_by_task_and_lists_global_options_once() -> None:
    top = run("--help").stdout
    sections = re.findall(r"^(\S[^\n]*):$", top, flags=re.M)
    assert sections[:2] == ["Options", "Write and check specs"]
    assert "Plan and apply" in sections and "Backends (state and outputs in a bucket)" in sections
    assert top.index("  init ") < top.index("  validate ") < top.index("  plan ") < top.index("  apply ")
    for command in (["schema"], ["init"], ["apply"], ["sandbox", "serve"], ["state", "push"]):
        own = run(*command, "--help").stdout
        listed = re.findall(r"^  (-[-\w]+)", own.split("Options:")[1].split("Global options (")[0], flags=re.M)
        assert not {"--api-url", "--log-format", "--heartbeat", "--no-color", "-v"} & set(listed), (command, listed)
        assert "bria-pipeline help options" in " ".join(own.split()), command
    page = run("help", "options")
    assert page.exit_code == 0
    for option in ("--sandbox", "--api-url URL", "--no-color", "-v, --verbose", "--log-format [text|json]",
                   "--heartbeat DURATION", "--version", "BRIA_PIPELINE_HEARTBEAT", "FORCE_COLOR", "--var-file FILE"):
        assert option in page.stdout, option
    assert run("help", "state", "push").stdout == run("state", "push", "--help").stdout.replace(
        "Usage: bria-pipeline state push", "Usage: bria-pipeline state push", 1)


def test_force_color_colours_a_pipe_unless_no_color_says_otherwise(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="colours", images=6, broken=True)
    plain = run_child("validate", str(spec))
    assert plain.returncode == 1 and not ANSI.search(plain.stdout)  # a pipe: no colours
    forced = run_child("validate", str(spec), env={"FORCE_COLOR": "1"})
    assert forced.returncode == 1 and ANSI.search(forced.stdout), forced.stdout
    assert ANSI.sub("", forced.stdout) == plain.stdout
    assert not ANSI.search(run_child("validate", str(spec), env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout)
    assert not ANSI.search(run_child("--no-color", "validate", str(spec), env={"FORCE_COLOR": "1"}).stdout)
    assert not ANSI.search(run_child("validate", str(spec), env={"FORCE_COLOR": "0"}).stdout)


def test_validate_format_github_annotates_the_specs_lines(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="annotated", images=6, broken=True)
    text = spec.read_text().replace("  ip_name: Lucy\n", "  ip_nmae: Lucy\n")
    spec.write_text(text)
    result = run("validate", str(spec), "--format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    lines = text.splitlines()
    found = {}
    for annotation in annotations:
        match = re.fullmatch(r"::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=([^:]+)::(.*)", annotation)
        assert match, annotation
        level, file, line, _, title, message = match.groups()
        assert file == str(spec) and level == "error" and "\n" not in message
        found[title] = (int(line), message)
    line, message = found["project.ip_nmae"]
    assert lines[line - 1].strip().startswith("ip_nmae:") and "%0Ahint: did you mean 'ip_name'?" in message
    line, _ = found["project.ip_type"]
    assert "no_such_type" in lines[line - 1]
    assert result.stdout.rstrip().endswith(f"FAILED: 2 errors ({spec})")


def test_show_aligns_its_columns(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "brand", project="aligned", images=6, model=True, complete=True)
    assert run("--sandbox", "apply", str(spec), "--auto-approve", "--no-wait").exit_code == 0
    table = run("--sandbox", "show", str(spec)).stdout.splitlines()
    rows = {line.split()[0]: line for line in table}
    dataset, model = rows["dataset"], rows["model"]
    for column in ("lucy", " id "):
        assert dataset.index(column) == model.index(column if column != "lucy" else "lucy-lora"), (dataset, model)
    assert rows["project"].index("aligned") == dataset.index("lucy") == rows["spec"].index(str(spec))


def test_sandbox_serve_help_says_training_time_is_per_750_steps() -> None:
    text = " ".join(run("sandbox", "serve", "--help").stdout.split())
    assert "Seconds a training takes per 750 steps" in text
