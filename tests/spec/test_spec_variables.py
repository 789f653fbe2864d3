"""Template variables: precedence, typing, and the sandbox's limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from bria_pipeline.spec import load_spec, validate_spec
from bria_pipeline.spec.variables import parse_var_option, typed_value
from spec_helpers import Project

PROJECT = """\
project:
  name: "{{ who }}-{{ where }}-{{ when }}"
  ip_type: stylized_scene
  ip_medium: photography
"""


def test_cli_var_beats_var_file_which_beats_spec_vars(project: Project) -> None:
    spec = project.spec(vars="vars:\n  who: spec\n  where: spec\n  when: spec\n", project=PROJECT)
    first = project.write("who: file1\nwhere: file1\n", name="one.yaml")
    second = project.write("where: file2\n", name="two.yaml")
    desired = load_spec(spec, vars={"who": "cli"}, var_files=[first, second])
    assert desired.project.name == "cli-file2-spec"
    assert desired.vars == {"who": "cli", "where": "file2", "when": "spec"}
    assert load_spec(spec).project.name == "spec-spec-spec"


def test_single_expression_keeps_its_number_type(project: Project) -> None:
    spec = project.spec(models="""\
        models:
          m:
            dataset: main
            training_mode: expert
            training:
              rank: "{{ rank }}"
              total_training_steps: "{{ steps * 2 }}"
        """)
    model = load_spec(spec, vars={"rank": 16, "steps": 150}).models["m"]
    assert model.training.rank == 16 and model.training.total_training_steps == 300


def test_var_option_values_are_typed_without_yaml_surprises() -> None:
    assert parse_var_option("steps=300") == ("steps", 300)
    assert parse_var_option("lr=1e-4") == ("lr", 0.0001)
    assert parse_var_option("flag=true") == ("flag", True)
    assert typed_value("0123") == "0123" and typed_value("16:9") == "16:9" and typed_value("no") == "no"
    assert parse_var_option("name=a=b") == ("name", "a=b")
    with pytest.raises(ValueError, match="no '='"):
        parse_var_option("oops")
    with pytest.raises(ValueError, match="not a variable name"):
        parse_var_option("2x=1")


def test_templates_render_values_but_never_keys(project: Project) -> None:
    spec = project.spec(vars="vars:\n  name: main\n", models="models:\n  m:\n    dataset: \"{{ name }}\"\n",
                        datasets="""\
        datasets:
          "{{ name }}":
            images: [images/*.png]
            complete: false
        """)
    problems = validate_spec(spec)
    assert any("'{{ name }}' is not a valid name here" in p.message for p in problems)


@pytest.mark.parametrize("template, fragment", [
    ("{{ cycler.__init__.__globals__ }}", "template refused: access to attribute '__init__'"),
    ("{{ '{:>99999999}'.format(1) }}", "access to attribute 'format' of 'str' object is unsafe"),
    ("{{ 'a' * 100000000 }}", "would exceed"),
    ("{{ 9 ** 9 ** 9 }}", "exponents above 64"),
    ("{% for i in [1, 2] %}{{ i }}{% endfor %}", "'{% for %}' is not allowed"),
    ("{% extends 'base.yaml' %}", "'{% extends %}' is not allowed"),
    ("{{ lipsum() }}", "undefined variable 'lipsum'"),
    ("{{ [1, 2] | random }}", "No filter named 'random'"),
])
def test_sandbox_refuses_what_a_hostile_spec_might_try(project: Project, template: str, fragment: str) -> None:
    spec = project.spec(project=f"project:\n  name: \"{template}\"\n  ip_type: other\n  ip_medium: photography\n")
    messages = [p.message for p in validate_spec(spec)]
    assert any(fragment in m for m in messages), messages


def test_var_file_must_be_a_map(project: Project, tmp_path: Path) -> None:
    var_file = tmp_path / "list.yaml"
    var_file.write_text("- a\n- b\n")
    problems = validate_spec(project.spec(), var_files=[var_file])
    assert [(p.file, p.line, p.message) for p in problems] == [
        (str(var_file), 1, "a var file must be a map of variable names to values")]
