"""The reference cannot leave anything out: every command-line option, every BRIA_PIPELINE_*
variable, every exit code and every spec and plan field has an entry, and every environment
variable the code reads is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
import docs_reference as ref

ROOT = Path(__file__).resolve().parents[2]


def page(name: str) -> str:
    """A reference page as the build makes it: its generated parts filled in."""
    return ref.expand((ROOT / "docs" / "reference" / name).read_text(encoding="utf-8"))


def test_every_command_and_option_has_a_cli_entry() -> None:
    text = page("cli.md")
    seen = 0
    for path, command, _ in ref.iter_commands():
        if path:
            assert f"`{' '.join(['bria-pipeline', *path])}`" in text, path
        for param in ref.command_options(command):
            for flag in (*param.opts, *param.secondary_opts):
                assert f"`{flag}`" in text, f"{' '.join(path)} {flag}"
            seen += 1
    assert seen > 50  # every command's options, not an empty walk


def test_a_new_option_appears_in_the_reference_without_editing_the_docs() -> None:
    from bria_pipeline.cli import main

    root = click.Context(main, info_name="bria-pipeline")
    plan = main.get_command(root, "plan")
    extra = click.Option(["--docs-probe-option"], help="A probe.")
    plan.params.append(extra)
    try:
        assert "`--docs-probe-option`" in page("cli.md")
        assert "BRIA_PIPELINE_PLAN_DOCS_PROBE_OPTION" in page("environment.md") or extra.envvar is None
    finally:
        plan.params.remove(extra)


def test_every_option_variable_is_in_the_environment_reference() -> None:
    text = page("environment.md")
    found = ref.cli_option_envvars()
    assert any(env == "BRIA_PIPELINE_APPLY_CONCURRENCY" for env, _, _ in found)
    for env, command, option in found:
        assert f"`{env}`" in text, f"{env} ({command} {option})"


def test_every_variable_the_code_reads_is_documented() -> None:
    text = page("environment.md")
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bria_pipeline").rglob("*.py"))
    names = set(re.findall(r"""(?:environ(?:\.get)?\(|getenv\(|environ\[)\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    names |= set(re.findall(r"""["'](BRIA_[A-Z0-9_]+)["']""", source)) - {"BRIA_PIPELINE"}
    assert {"BRIA_API_TOKEN", "BRIA_PIPELINE_BACKEND"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in text and not n.startswith("AWS_"))
    assert not missing, f"read by the code, not in docs/reference/environment.md: {missing}"


def test_every_exit_code_is_in_the_reference() -> None:
    from bria_pipeline.cli import exit_codes

    text = page("exit-codes.md")
    for name, value in vars(exit_codes).items():
        if name.startswith("EXIT_"):
            row = re.search(rf"^\| `{value}` \| `{name}` \| (.+) \|$", text, re.M)
            assert row and len(row.group(1)) > 10, name


def test_every_spec_field_has_an_entry_with_its_type() -> None:
    text = page("spec.md")
    schema = ref._load("spec.schema.json")
    fields = ref.schema_fields(schema)
    assert len(fields) > 60
    for path, _, _ in fields:
        row = next((line for line in text.splitlines() if f"</a>`{path}` |" in line), None)
        assert row, f"spec field {path} has no entry in the spec reference"
        cells = [c.strip() for c in row.split(" | ")]
        assert cells[1], f"{path}: no type"


def test_spec_examples_come_from_the_shipped_specs() -> None:
    examples = ref.example_values()
    assert examples["project.ip_type"] in {"defined_character", "stylized_scene", "multi_object_set",
                                           "object_variants", "icons", "character_variants", "other"}
    assert "models.<name>.training.rank" in examples


def test_every_plan_field_has_an_entry() -> None:
    text = page("plan-json.md")
    for path, _, _ in ref.schema_fields(ref._load("plan.schema.json")):
        assert f"</a>`{path}` |" in text, f"plan field {path} has no entry"


def test_every_result_field_has_an_entry() -> None:
    text = page("result-json.md")
    schema = ref._load("result.schema.json")
    documents = ref.result_documents()
    assert {command for command, _ in documents} >= {"apply", "destroy", "show", "refresh", "import", "output"}
    for command, document in documents:
        assert f"## `{command}`" in text, f"result document {command} has no section"
        for path, _, _ in ref.schema_fields(document):
            if not path.startswith("results."):
                assert f"</a>`{path}` |" in text, f"{command} result field {path} has no entry"
    for path, _, _ in ref.schema_fields({**schema["$defs"]["results"], "$defs": schema["$defs"]}):
        assert f"</a>`{path}` |" in text, f"results field {path} has no entry"


def test_every_decisions_field_has_an_entry() -> None:
    text = page("decisions.md")
    for path, _, _ in ref.schema_fields(ref._load("decisions.schema.json")):
        assert f"</a>`{path}` |" in text, f"decisions field {path} has no entry"


def test_the_test_extra_installs_what_the_docs_need() -> None:
    """The README's test command installs `.[test]`: the docs extra must be in it, name for name."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")

    def extra(name: str) -> set[str]:
        block = re.search(rf"^{name} = \[(.*?)^\]", text, re.M | re.S)
        assert block, f"no {name} extra in pyproject.toml"
        return set(re.findall(r'^\s*"([^"]+)"', block.group(1), re.M))

    docs = extra("docs")
    assert any(r.startswith("mkdocs-material") for r in docs)
    assert docs <= extra("test"), f"in the docs extra, not in test: {sorted(docs - extra('test'))}"
