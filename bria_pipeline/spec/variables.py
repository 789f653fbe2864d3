"""Template variables: the spec's `vars:`, `--var-file FILE` (YAML) and `--var k=v`.

Precedence, lowest to highest: `vars:` in the spec, then each `--var-file` in the order given,
then each `--var`. A later source replaces a whole value; maps are not merged.

`--var` values are typed the way a reader expects, without YAML 1.1's surprises: ``32`` is an
integer, ``0.0001`` and ``1e-4`` are floats, ``true``/``false`` are booleans, anything else
(``0123``, ``16:9``, ``no``) is a string.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from jinja2 import meta
from jinja2.exceptions import TemplateSyntaxError

from bria_pipeline.spec.document import Document
from bria_pipeline.spec.problems import SpecProblem, did_you_mean
from bria_pipeline.spec.template_limits import MAX_SPEC_MARKUP, markup_size
from bria_pipeline.spec.templates import ENVIRONMENT, has_template
from bria_pipeline.spec.yaml_source import read_document

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)$")
RESERVED = frozenset({"true", "false", "none", "True", "False", "None", "loop", "self", "varargs", "kwargs"})


def typed_value(text: str) -> Any:
    """A `--var` value: int, float, bool or str (see the module docstring)."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_var_option(option: str) -> tuple[str, Any]:
    """``"character=Lucy"`` -> ``("character", "Lucy")``; raises ValueError with the reason."""
    name, sep, value = option.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"{option!r} has no '='; write --var NAME=VALUE")
    if not NAME.match(name) or name in RESERVED:
        raise ValueError(f"{name!r} is not a variable name: use letters, digits and _, not starting with a digit")
    return name, typed_value(value)


def check_names(doc: Document, base: tuple, values: Mapping[str, Any], *, reserved_only: bool = False) -> list[SpecProblem]:
    """Every variable name must be usable in a template: `{{ name }}`.

    `reserved_only`: report only Jinja's reserved words (the schema reports malformed names).
    """
    problems = []
    for name in values:
        if (not reserved_only and not NAME.match(name)) or name in RESERVED:
            problems.append(
                doc.problem(
                    base + (name,),
                    f"{name!r} cannot be a variable name",
                    "use letters, digits and _ (not starting with a digit), e.g. character_name",
                    key=True,
                )
            )
    return problems


def read_var_files(paths: Iterable[Path | str]) -> tuple[dict[str, Any], list[SpecProblem]]:
    """Merge YAML var files in order (later ones win). Each must be a map of names to values."""
    merged: dict[str, Any] = {}
    problems: list[SpecProblem] = []
    for raw in paths:
        path = Path(raw)
        doc, found = read_document(path, str(raw))
        problems += found
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), "a var file must be a map of variable names to values",
                                        "write one `name: value` per line"))
            continue
        found = check_names(doc, (), doc.data)
        problems += found
        if not found:
            merged.update(doc.data)
    return merged, problems


def effective_vars(
    spec_vars: Mapping[str, Any] | None,
    file_vars: Mapping[str, Any],
    cli_vars: Mapping[str, Any] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = dict(spec_vars or {})
    out.update(file_vars)
    out.update(cli_vars or {})
    return out


def template_names(data: Any) -> set[str] | None:
    """Every variable name the spec's templates read (values only: keys are never rendered).

    Each distinct text is parsed once, and no more template code than rendering allows
    (MAX_SPEC_MARKUP): past it the renderer refuses the spec anyway, and None says the names
    are not known.
    """
    names: set[str] = set()
    seen: set[str] = set()
    markup = 0
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and has_template(value) and value not in seen:
            seen.add(value)
            markup += markup_size(value)
            if markup > MAX_SPEC_MARKUP:
                return None
            try:
                names |= meta.find_undeclared_variables(ENVIRONMENT.parse(value))
            except TemplateSyntaxError:
                continue  # reported where the value is rendered
    return names


def unknown_cli_vars(cli_vars: Mapping[str, Any], known: Iterable[str]) -> list[SpecProblem]:
    """A `--var` no template reads and `vars:` does not declare is a typo until shown otherwise:
    ``--var rnak=64`` would otherwise be silently ignored."""
    known = sorted(set(known))
    problems = []
    for name in cli_vars:
        if name in known or not NAME.match(name) or name in RESERVED:
            continue
        close = did_you_mean(name, known)
        listed = ", ".join(known) or "none"
        problems.append(SpecProblem(
            "--var", 1, 1, name, f"the spec has no variable {name!r} to set",
            (f"did you mean '{close}'? " if close else "") + f"variables of this spec: {listed}",
        ))
    return problems
