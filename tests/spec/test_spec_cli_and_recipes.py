"""validate / init / schema on the command line, the recipes, and spec_options for other commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bria_pipeline.cli import main
from bria_pipeline.cli.spec_cmds import SpecInputs, spec_options
from bria_pipeline.spec import load_spec
from bria_pipeline.spec.recipes import RECIPES
from spec_helpers import REPO, Project, run_validate


def test_validate_prints_the_summary_of_a_valid_spec(project: Project, cli: CliRunner) -> None:
    spec = project.spec()
    result = run_validate(cli, str(spec))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"OK: 1 dataset, 6 images, 1 model, 1 output ({spec})"


def test_validate_reports_every_spec_and_fails_if_one_fails(project: Project, cli: CliRunner) -> None:
    good = project.spec(name="good.yaml")
    bad = project.spec(name="bad.yaml", models="models:\n  m:\n    dataset: missing\n")
    result = run_validate(cli, str(good), str(bad))
    assert result.exit_code == 1
    assert f"OK: 1 dataset, 6 images, 1 model, 1 output ({good})" in result.output
    assert f"{bad}:14:14: models.m.dataset: no dataset named 'missing'" in result.output
    assert f"FAILED: 1 error ({bad})" in result.output


def test_validate_json_format_lists_problems_for_tools(project: Project, cli: CliRunner) -> None:
    bad = project.spec(models="models:\n  m:\n    dataset: missing\n")
    result = run_validate(cli, "--format", "json", str(bad))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    (problem,) = report["specs"][0]["problems"]
    assert (problem["line"], problem["col"], problem["path"], problem["severity"]) == (14, 14, "models.m.dataset", "error")


def test_warnings_alone_exit_zero(project: Project, cli: CliRunner) -> None:
    spec = project.spec(generate="generate:\n  model: m\n  images:\n    - name: a\n      prompt: a cat\n"
                                 "      matrix: {unused: [1, 2]}\n")
    result = run_validate(cli, str(spec))
    assert result.exit_code == 0
    assert "warning: matrix variable 'unused' is not used in the prompt" in result.output
    assert "OK: 1 dataset, 6 images, 1 model, 2 outputs" in result.output


def test_var_options_reach_the_templates(project: Project, cli: CliRunner) -> None:
    spec = project.spec(project='project:\n  name: "{{ who }}"\n  ip_type: other\n  ip_medium: photography\n')
    assert run_validate(cli, str(spec)).exit_code == 1
    var_file = project.write("who: from-file\n", name="vars.yaml")
    assert run_validate(cli, "--var-file", str(var_file), str(spec)).exit_code == 0
    assert run_validate(cli, "--var", "who=x", str(spec)).exit_code == 0
    bad = cli.invoke(main, ["validate", "--var", "nonsense", str(spec)])
    assert bad.exit_code == 1 and "has no '='" in bad.output


def test_spec_options_hand_one_spec_inputs_to_the_command(project: Project) -> None:
    seen: list[SpecInputs] = []

    @click.command()
    @click.argument("spec")
    @spec_options
    def plan_like(spec: str, spec_inputs: SpecInputs) -> None:
        seen.append(spec_inputs)
        click.echo(spec_inputs.load(spec).project.name)

    spec = project.spec(project='project:\n  name: "{{ who }}"\n  ip_type: other\n  ip_medium: photography\n')
    result = CliRunner().invoke(plan_like, [str(spec), "--var", "who=lucy", "--allow-outside"], catch_exceptions=False)
    assert result.exit_code == 0 and result.output.strip() == "lucy"
    assert seen == [SpecInputs(vars={"who": "lucy"}, var_files=(), allow_outside=True)]
    assert "--var-file FILE" in CliRunner().invoke(plan_like, ["--help"]).output


def test_schema_command_prints_the_schema_file(cli: CliRunner) -> None:
    result = cli.invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.output == (REPO / "schemas" / "spec.schema.json").read_text()


@pytest.mark.parametrize("command", ["validate", "init", "schema"])
def test_every_command_help_shows_an_example(cli: CliRunner, command: str) -> None:
    output = cli.invoke(main, [command, "--help"]).output
    assert "Example" in output and f"bria-pipeline {command}" in output


def test_recipes_in_specs_and_in_the_package_are_the_same() -> None:
    repo = sorted(p.name for p in (REPO / "specs").glob("*.yaml"))
    assert repo == sorted(f"{r}.yaml" for r in RECIPES)
    for name in repo:
        assert (REPO / "specs" / name).read_bytes() == (REPO / "bria_pipeline" / "data" / "recipes" / name).read_bytes()


def test_recipes_validate_where_they_are(tmp_path: Path, cli: CliRunner) -> None:
    copy = tmp_path / "specs"
    shutil.copytree(REPO / "specs", copy)  # the committed placeholders in specs/images included
    result = run_validate(cli, *sorted(str(p) for p in copy.glob("*.yaml")))
    assert result.exit_code == 0, result.output
    assert result.output.count("OK: ") == len(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_init_scaffolds_a_spec_that_validates_with_placeholder_images(recipe: str, tmp_path: Path, cli: CliRunner) -> None:
    target = tmp_path / recipe
    result = cli.invoke(main, ["init", "--recipe", recipe, str(target), "--placeholder-images"])
    assert result.exit_code == 0, result.output
    spec = target / "spec.yaml"
    assert spec.read_text().splitlines()[0] == "# yaml-language-server: $schema=spec.schema.json"
    assert (target / "spec.schema.json").read_text() == (REPO / "schemas" / "spec.schema.json").read_text()
    assert ".bria/" in (target / ".gitignore").read_text()
    desired = load_spec(spec)
    assert desired.project.ip_type == recipe
    assert desired.datasets and desired.models and desired.generation.images


def test_init_without_images_explains_what_to_add_and_refuses_to_overwrite(tmp_path: Path, cli: CliRunner) -> None:
    target = tmp_path / "new"
    first = cli.invoke(main, ["init", "--recipe", "icons", str(target)])
    assert first.exit_code == 0 and "put your images in" in first.output
    assert "at least 1024x1024" in (target / "images" / "README.md").read_text()
    before = (target / "spec.yaml").read_text()
    (target / "spec.yaml").write_text(before + "# my edit\n")
    second = cli.invoke(main, ["init", "--recipe", "other", str(target)])
    assert second.exit_code == 1 and "not overwriting existing files" in second.output
    assert (target / "spec.yaml").read_text() == before + "# my edit\n"
    assert run_validate(cli, str(target / "spec.yaml")).exit_code == 1  # no images yet: told so


def test_pre_commit_hook_validates_specs_and_skips_other_yaml(project: Project, capsys) -> None:
    import yaml

    from bria_pipeline.cli import precommit_hook

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "bria-pipeline-validate" and hook["entry"] == "python -m bria_pipeline.cli.precommit_hook"
    assert hook["pass_filenames"] is True
    openapi = project.root / "openapi-spec.yaml"
    openapi.write_text("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}\n")
    spec = project.spec()
    assert precommit_hook.main([str(openapi)]) == 0
    assert precommit_hook.main(["--format", "text", str(openapi), str(spec)]) == 0
    out = capsys.readouterr().out
    assert f"skipped {openapi}: not a bria-pipeline spec" in out and "OK: " in out
    spec.write_text(spec.read_text().replace("ip_medium:", "ip_mediun:"))
    assert precommit_hook.main([str(spec)]) == 1
