"""The generated parts of the documentation: the CLI, environment variables, exit codes, the spec,
the plan document and the decisions file, each made from the code or the schema it documents, so it cannot drift.

A page asks for a part with a marker on a line of its own, `<!-- generated: NAME -->`; the mkdocs
hook (tools/mkdocs_hooks.py) replaces the marker with `generate(NAME)` at every build. NAME is one
of `PARTS`. Nothing here is written to disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import yaml

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)


# ---------------------------------------------------------------- the command line

def _cli() -> tuple[click.Group, click.Context]:
    from bria_pipeline.cli import main

    return main, click.Context(main, info_name="bria-pipeline")


def iter_commands() -> Iterator[tuple[list[str], click.Command, click.Context]]:
    """Every command, groups included, depth first in the order `--help` lists them, each loaded
    as the CLI loads it (so it carries its BRIA_PIPELINE_* variables and the late global options)."""
    main, root = _cli()

    def walk(group: click.Group, ctx: click.Context, path: list[str]) -> Iterator[tuple[list[str], click.Command, click.Context]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None:
                continue
            sub = click.Context(command, info_name=name, parent=ctx)
            yield [*path, name], command, sub
            if isinstance(command, click.Group):
                yield from walk(command, sub, [*path, name])

    yield [], main, root
    yield from walk(main, root, [])


def is_late_global(param: click.Parameter) -> bool:
    """The copy of a global option a command takes after its name (documented once, globally)."""
    from bria_pipeline.cli.global_options import LATE

    return (param.name or "").startswith(LATE)


def command_options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not is_late_global(p) and not p.hidden]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _flags(param: click.Option) -> str:
    flags = ", ".join(f"`{o}`" for o in param.opts)
    if param.secondary_opts:
        flags += " / " + ", ".join(f"`{o}`" for o in param.secondary_opts)
    return flags


def _value(param: click.Option, ctx: click.Context) -> str:
    if param.is_flag:
        return "flag"
    if param.count:
        return "count"
    metavar = param.make_metavar(ctx) if "ctx" in param.make_metavar.__code__.co_varnames else param.make_metavar()  # click 8.1 / 8.2
    return f"`{metavar}`" + (" (repeatable)" if param.multiple else "")


def _default(param: click.Option) -> str:
    default = param.default
    if type(default).__name__ == "Sentinel":  # click 8.2+: no default given
        return ""
    if default is None or default == () or (param.is_flag and default is False) or callable(default):
        return ""
    if param.count and default == 0:
        return ""
    return f"`{default}`"


def _help_text(command: click.Command) -> str:
    """A command's help as Markdown: prose paragraphs, and click's `\\b` blocks (examples) as code."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", (command.help or "").strip()):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            body = [line for line in lines[1:]]
            indent = min((len(l) - len(l.lstrip()) for l in body if l.strip()), default=0)
            out.append("```text\n" + "\n".join(l[indent:] for l in body) + "\n```")
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def cli_reference() -> str:
    parts: list[str] = []
    for path, command, ctx in iter_commands():
        name = " ".join(["bria-pipeline", *path])
        level = "#" * min(2 + max(len(path) - 1, 0), 4) if path else "##"
        title = f"`{name}`" if path else "Global options (`bria-pipeline`)"
        usage = " ".join(["Usage:", name, *command.collect_usage_pieces(ctx)])
        parts.append(f"{level} {title}\n\n```text\n{usage}\n```\n")
        text = _help_text(command) if path else ""
        if text:
            parts.append(text + "\n")
        options = command_options(command)
        if isinstance(command, click.Group) and path:
            subs = ", ".join(f"`{name} {sub}`" for sub in command.list_commands(ctx))  # type: ignore[attr-defined]
            parts.append(f"Commands: {subs}.\n")
        if options:
            rows = ["| option | meaning |", "|---|---|"]
            for param in options:
                value = _value(param, ctx)
                option = _flags(param) + ("" if value in ("flag", "count") else f" {value}")
                meaning = [_cell(param.help or "")]
                if _default(param):
                    meaning.append(f"**Default:** {_default(param)}.")
                if isinstance(param.envvar, str):
                    meaning.append(f"**Environment:** `{param.envvar}`.")
                rows.append(f"| {option} | {' '.join(meaning)} |")
            parts.append("\n".join(rows) + "\n")
        if path and not isinstance(command, click.Group):
            parts.append("Takes the [global options](#global-options-bria-pipeline) after its name too.\n")
    return "\n".join(parts)


def cli_option_envvars() -> list[tuple[str, str, str]]:
    """(variable, command, option) for every option of every command, global ones first."""
    found: list[tuple[str, str, str]] = []
    for path, command, _ in iter_commands():
        for param in command_options(command):
            if isinstance(param.envvar, str):
                found.append((param.envvar, " ".join(["bria-pipeline", *path]), max(param.opts, key=len)))
    return found


def environment_reference() -> str:
    rows = ["| variable | same as | on |", "|---|---|---|"]
    for env, command, option in cli_option_envvars():
        rows.append(f"| `{env}` | `{option}` | `{command}` |")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- exit codes

def exit_codes_reference() -> str:
    from bria_pipeline.cli import exit_codes

    rows = ["| code | name | meaning |", "|---|---|---|"]
    names = {value: name for name, value in vars(exit_codes).items() if name.startswith("EXIT_")}
    doc = exit_codes.__doc__ or ""
    meanings: dict[int, str] = {}
    for match in re.finditer(r"^\s{4}(\d+)\s+(.+?)(?=^\s{4}\d+\s|^\S|\Z)", doc, re.M | re.S):
        meanings[int(match.group(1))] = " ".join(match.group(2).split())
    for code in sorted(names):
        rows.append(f"| `{code}` | `{names[code]}` | {_cell(meanings.get(code, ''))} |")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- JSON schemas

def _load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "bria_pipeline" / "data" / name).read_text(encoding="utf-8"))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node and seen < 20:
        ref = node["$ref"].split("/")[-1]
        merged = dict(schema["$defs"][ref])
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        node, seen = merged, seen + 1
    return node


def _type(schema: dict[str, Any], node: dict[str, Any]) -> str:
    node = _resolve(schema, node)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " | ".join(f"`{v}`" for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(_type(schema, branch) for branch in node[key])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"list of {_type(schema, node.get('items', {}))}"
    if kind == "object" and "properties" not in node:
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            return f"map of {_type(schema, values)}"
        return "map"
    return kind


def _limits(node: dict[str, Any]) -> str:
    words = []
    for key, text in (("minimum", ">= {}"), ("maximum", "<= {}"), ("exclusiveMinimum", "> {}"),
                      ("minLength", "at least {} characters"), ("maxLength", "at most {} characters"),
                      ("minItems", "at least {} items"), ("maxItems", "at most {} items"),
                      ("minProperties", "at least {} keys"), ("pattern", "matches `{}`")):
        if key in node:
            words.append(text.format(node[key]))
    if node.get("uniqueItems"):
        words.append("no duplicates")
    return ", ".join(words)


DEFAULT_PHRASE = re.compile(
    r"(?:The service's default is|Defaults? to)\s+(.+?)(?=\.\s|;|\.$|$)"
    r"|(?:^|\.\s)Default:?\s+([\w./<>:'-]+(?:\s[\w./<>:'-]+){0,2}(?:\s\([^)]*\))?)(?=[.;]|$)")


def _default_of(node: dict[str, Any]) -> str:
    if "default" in node:
        return f"`{json.dumps(node['default'])}`"
    match = DEFAULT_PHRASE.search(node.get("description", ""))
    return _cell((match.group(1) or match.group(2)).rstrip(".")) if match else ""


def schema_fields(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(path, node, required) for every field the schema defines, depth first; map keys are `<name>`,
    list items `[]`."""
    fields: list[tuple[str, dict[str, Any], bool]] = []

    def walk(node: dict[str, Any], path: str, depth: int) -> None:
        node = _resolve(schema, node)
        if depth > 12:
            return
        for key in ("anyOf", "oneOf"):
            for branch in node.get(key, []):
                walk(branch, path, depth + 1)
        if node.get("type") == "array" or "items" in node:
            if isinstance(node.get("items"), dict):
                walk(node["items"], path + "[]", depth + 1)
        required = set(node.get("required", []))
        for name, child in node.get("properties", {}).items():
            sub = f"{path}.{name}" if path else name
            fields.append((sub, child, name in required))
            walk(child, sub, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in node:
            walk(extra, f"{path}.<name>" if path else "<name>", depth + 1)

    walk(schema, "", 0)
    unique: dict[str, tuple[str, dict[str, Any], bool]] = {}
    for path, node, required in fields:
        known = unique.setdefault(path, (path, node, required))[1]
        if known is not node and "const" in node and ("const" in known or "enum" in known):
            values = [known["const"]] if "const" in known else known["enum"]  # one tag per branch of a oneOf
            merged = {k: v for k, v in known.items() if k != "const"}
            unique[path] = (path, {**merged, "enum": [*values, node["const"]]}, unique[path][2])
    return list(unique.values())


def example_values() -> dict[str, Any]:
    """The first value each spec field takes in the specs the repository ships (the quickstart,
    the recipes, the GitOps brands): real, validated examples for the reference."""
    schema = _load("spec.schema.json")
    found: dict[str, Any] = {}
    files = [ROOT / "examples" / "lucy" / "spec.yaml", *sorted((ROOT / "specs").glob("*.yaml")),
             *sorted((ROOT / "examples" / "gitops" / "brands").glob("*/spec.yaml"))]

    def walk(node: dict[str, Any], value: Any, path: str) -> None:
        node = _resolve(schema, node)
        if path:
            found.setdefault(path, value)
        if isinstance(value, dict):
            props = node.get("properties", {})
            for branch in node.get("anyOf", []) + node.get("oneOf", []):
                props = {**_resolve(schema, branch).get("properties", {}), **props}
            extra = node.get("additionalProperties")
            for branch in node.get("anyOf", []) + node.get("oneOf", []):
                b = _resolve(schema, branch)
                if isinstance(b.get("additionalProperties"), dict) and not b.get("properties"):
                    extra = b["additionalProperties"]
            for key, sub in value.items():
                if key in props:
                    walk(props[key], sub, f"{path}.{key}" if path else str(key))
                elif isinstance(extra, dict):
                    walk(extra, sub, f"{path}.<name>" if path else "<name>")
        elif isinstance(value, list):
            items = node.get("items")
            for branch in node.get("anyOf", []) + node.get("oneOf", []):
                items = items or _resolve(schema, branch).get("items")
            if isinstance(items, dict):
                for sub in value:
                    walk(items, sub, path + "[]")

    for file in files:
        walk(schema, yaml.safe_load(file.read_text(encoding="utf-8")), "")
    return found


def _example(value: Any, node: dict[str, Any]) -> str:
    if value is None:
        examples = node.get("examples")
        if not examples:
            return ""
        value = examples[0]
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    if len(text) > 60:
        text = text[:57] + "..."
    return f"`{_cell(text)}`" if text else ""


def _schema_tables(schema: dict[str, Any], examples: dict[str, Any] | None, anchor_prefix: str = "") -> str:
    fields = schema_fields(schema)
    groups: dict[str, list[tuple[str, dict[str, Any], bool]]] = {}
    for path, node, required in fields:
        parent, _, _ = path.rpartition(".")
        groups.setdefault(parent, []).append((path, node, required))
    parts: list[str] = []
    for parent, rows in groups.items():
        title = f"`{parent}`" if parent else "Top level"
        table = [f"### {title}\n", "| field | type | description |", "|---|---|---|"]
        for path, node, required in rows:
            resolved = _resolve(schema, node)
            limits = _limits(resolved)
            kind = _type(schema, node) + (f" ({limits})" if limits else "")
            text = [_cell(node.get("description") or resolved.get("description", ""))]
            if required:
                text.insert(0, "**Required.**")
            default = _default_of(node) or _default_of(resolved)
            if default:
                text.append(f"**Default:** {default}.")
            if examples is not None:
                value = examples.get(path)
                if isinstance(value, (dict,)) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                    value = None  # a whole section: its fields have their own examples
                example = _example(value, resolved)
                if example:
                    text.append(f"**Example:** {example}")
            name = f'<a id="{anchor_prefix}{_anchor(path)}"></a>`{path}`'
            table.append(f"| {name} | {_cell(kind)} | {' '.join(text)} |")
        parts.append("\n".join(table) + "\n")
    return "\n".join(parts)


def _anchor(path: str) -> str:
    return "field-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def spec_reference() -> str:
    schema = _load("spec.schema.json")
    return _schema_tables(schema, example_values())


def plan_reference() -> str:
    schema = _load("plan.schema.json")
    return _schema_tables(schema, None) + "\n" + step_types_reference(schema)


def step_types_reference(schema: dict[str, Any]) -> str:
    """One row per step type of the plan schema (made from the classes of bria_pipeline/plan/steps.py):
    its `type` tag, its class, its fields (required ones in bold) and what it does."""
    rows = ["### Step types\n",
            "Each action's `step` is one of these; `type` names it, the other fields are its arguments "
            "(the fields tables above give their types).\n",
            "| `type` | class | fields | what it does |", "|---|---|---|---|"]
    for branch in schema["$defs"]["step"]["oneOf"]:
        required = set(branch.get("required", []))
        fields = [f"**`{name}`**" if name in required else f"`{name}`" for name in branch["properties"] if name != "type"]
        tag = branch["properties"]["type"]["const"]
        anchor = "step-" + re.sub(r"[^a-z0-9]+", "-", tag)
        rows.append(f'| <a id="{anchor}"></a>`{tag}` | `{branch.get("title", "")}` | {", ".join(fields)} | '
                    f'{_cell(branch.get("description", ""))} |')
    return "\n".join(rows) + "\n"


def decisions_reference() -> str:
    schema = _load("decisions.schema.json")
    return _schema_tables(schema, None)


def result_documents() -> list[tuple[str, dict[str, Any]]]:
    """(command, schema of its document) for every document `--json` prints, in the schema's order."""
    schema = _load("result.schema.json")
    documents = []
    for branch in schema["oneOf"]:
        node = _resolve(schema, branch)
        command = node["properties"]["command"]
        names = command.get("enum") or [command["const"]]
        documents.append((" / ".join(names), {**node, "$defs": schema["$defs"]}))
    return documents


def result_reference() -> str:
    """One section per command with its document's fields, then the results block they share,
    from result.schema.json."""
    schema = _load("result.schema.json")
    parts = []
    for command, document in result_documents():
        first = command.split(" / ")[0]
        tables = _schema_tables(document, None, anchor_prefix=f"{first}-")
        sections = [part for part in tables.split("### ") if part and not part.startswith("`results")]
        body = "### ".join([""] + sections).replace("### Top level", "### Fields")
        body = body.replace("\n### `", f"\n### `{first}`: `")
        parts.append(f"## `{command}`\n\n{body}")
    results = {**schema["$defs"]["results"], "$defs": schema["$defs"]}
    tables = _schema_tables(results, None, anchor_prefix="results-").replace("### Top level", "### Fields")
    tables = tables.replace("\n### `", "\n### `results.")
    parts.append(f"## `results`\n\n{_cell(results.get('description', ''))}\n\n{tables}")
    return "\n".join(parts)


# ---------------------------------------------------------------- benchmarks

def benchmarks_reference() -> str:
    """Every script in benchmarks/, with the first paragraph of its docstring and its usage lines."""
    import ast

    rows = ["| script | what it measures | run it |", "|---|---|---|"]
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        first = doc.split("\n\n")[0]
        usage = [line.strip().split("#")[0].split("  ")[0].strip() for line in doc.splitlines()
                 if line.strip().startswith("python benchmarks/")]
        what = " ".join(line.strip() for line in first.splitlines() if not line.strip().startswith("python "))
        runs = "<br>".join(f"`{' '.join(u.split())}`" for u in usage)
        rows.append(f"| `{script.relative_to(ROOT)}` | {_cell(what)} | {runs} |")
    return "\n".join(rows) + "\n"


PARTS: dict[str, Callable[[], str]] = {
    "benchmarks": benchmarks_reference,
    "cli": cli_reference,
    "environment": environment_reference,
    "exit-codes": exit_codes_reference,
    "spec": spec_reference,
    "plan": plan_reference,
    "decisions": decisions_reference,
    "result": result_reference,
}


def generate(name: str) -> str:
    return PARTS[name]()


def expand(markdown: str) -> str:
    """The page with every `<!-- generated: NAME -->` marker replaced by its part."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PARTS:
            raise ValueError(f"unknown generated part {name!r}; known: {', '.join(PARTS)}")
        return generate(name)

    return MARKER.sub(one, markdown)
