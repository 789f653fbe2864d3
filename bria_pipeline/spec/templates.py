"""Jinja2 templates in spec values, sandboxed so that a spec from a stranger is safe to validate.

Only string values are rendered (never keys), so a template can fill in a value but cannot add
keys or change the file's structure. A value that is exactly one expression, ``"{{ steps }}"``,
keeps the expression's type when it is a number or a boolean, so ``total_training_steps:
"{{ steps }}"`` with ``--var steps=300`` is the integer 300.

What a template can do: read variables, use filters (``upper``, ``join``, ``default``, ...),
``{% if %}`` and ``{% set %}``. What it cannot: reach Python internals (``''.__class__`` and
friends are refused by Jinja's sandbox), read files (``import``, ``include``, ``extends`` are
refused, and there is no loader), read the environment, loop (``for``), define macros, or build
huge values (``'a' * 10**9``, ``10 ** 10 ** 10``, padding methods and filters are refused).
Results are deterministic: ``random`` and ``lipsum`` are not available.
"""

from __future__ import annotations

import re
import traceback
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import StrictUndefined, Template, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedEnvironment

from bria_pipeline.spec.document import Document
from bria_pipeline.spec.problems import SpecPath, SpecProblem, did_you_mean

MAX_RENDERED = 64 * 1024  # characters one rendered value may have
_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_SINGLE_EXPRESSION = re.compile(r"^\{\{-?\s*(?P<expr>(?:(?!\{\{|\}\}).)+?)\s*-?\}\}$", re.S)
_REFUSED_NODES: dict[type, str] = {
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Include: "include",
    nodes.Extends: "extends",
    nodes.Block: "block",
    nodes.For: "for",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
}
_UNSAFE_STR_METHODS = frozenset({"format", "format_map", "ljust", "rjust", "center", "zfill", "expandtabs"})
_REMOVED_FILTERS = ("center", "indent", "format", "wordwrap", "slice", "random", "filesizeformat")


class SpecTemplateEnvironment(SandboxedEnvironment):
    """Jinja's sandbox, narrowed to filling in values."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals.clear()
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _UNSAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        """No str.format / format_map at all (padding widths would build huge strings)."""
        return None

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if not isinstance(right, (int, float)) or abs(right) > 64 or (
                isinstance(left, (int, float)) and abs(left) > 10**6
            ):
                raise SecurityError("exponents above 64 (or bases above a million) are not allowed in spec templates")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                    if len(seq) * count > MAX_RENDERED:
                        raise SecurityError(f"the value would exceed {MAX_RENDERED} characters")
        return super().call_binop(context, operator, left, right)


ENVIRONMENT = SpecTemplateEnvironment()


def has_template(text: str) -> bool:
    return any(marker in text for marker in _TEMPLATE_MARKERS)


@lru_cache(maxsize=4096)
def _compile(text: str) -> tuple[Template | None, tuple[str, int] | None]:
    """The compiled template, or the refused tag (and its line) that keeps it from compiling.

    Cached: a prompt set renders the same text once per matrix combination.
    """
    tree = ENVIRONMENT.parse(text)
    for node_type, word in _REFUSED_NODES.items():
        found = next(iter(tree.find_all(node_type)), None)
        if found is not None:
            return None, (word, found.lineno)
    return ENVIRONMENT.from_string(text), None


def _template_line(exc: BaseException) -> int:
    """The line inside the template where rendering failed (1 when unknown)."""
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return int(lineno)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<template>" and frame.lineno:
            return frame.lineno
    return 1


class Renderer:
    """Renders string values of a document with one set of variables, collecting problems."""

    def __init__(self, doc: Document, variables: Mapping[str, Any]) -> None:
        self.doc = doc
        self.variables = dict(variables)
        self.problems: list[SpecProblem] = []
        self.failed: set[SpecPath] = set()  # values that did not render (later stages skip them)

    def _problem(self, path: SpecPath, exc: BaseException, message: str, hint: str | None) -> None:
        self.failed.add(path)
        line = _template_line(exc)
        if path in self.doc.block_scalars:
            offset = line
        else:
            offset = line - 1 if line > 1 else 0
        self.problems.append(self.doc.problem(path, message, hint, line_offset=offset))

    def render(self, path: SpecPath, text: str, extra: Mapping[str, Any] | None = None) -> Any:
        """The rendered value (str, or int/float/bool for a single expression); None on failure."""
        if not has_template(text):
            return text
        context = {**self.variables, **(extra or {})}
        try:
            template, refused = _compile(text)
            if refused is not None:
                word, lineno = refused
                self._problem(
                    path, TemplateSyntaxError("refused", lineno), f"'{{% {word} %}}' is not allowed in spec templates",
                    "templates fill in values from variables; they cannot read files, loop or define macros",
                )
                return None
            rendered = template.render(context)
            if len(rendered) > MAX_RENDERED:
                raise SecurityError(f"the value would exceed {MAX_RENDERED} characters")
            single = _SINGLE_EXPRESSION.match(text.strip())
            if single:
                value = ENVIRONMENT.compile_expression(single.group("expr"), undefined_to_none=False)(**context)
                if isinstance(value, (bool, int, float)) and not isinstance(value, Undefined):
                    return value
            return rendered
        except TemplateSyntaxError as exc:
            self._problem(path, exc, f"template syntax error: {exc.message}",
                          "Jinja syntax: {{ variable }}, {{ variable | filter }}, {% if cond %}...{% endif %}")
        except UndefinedError as exc:
            self._problem(path, exc, *self._undefined(str(exc.message or exc), context))
        except SecurityError as exc:
            self._problem(path, exc, f"template refused: {exc}",
                          "templates can read variables only; Python internals, files and the environment are out of reach")
        except Exception as exc:  # noqa: BLE001 - any failure inside a template is the spec's problem
            self._problem(path, exc, f"template failed: {type(exc).__name__}: {exc}",
                          "check the expression and the types of the variables it uses")
        return None

    def _undefined(self, message: str, context: Mapping[str, Any]) -> tuple[str, str]:
        name = re.match(r"^'([^']+)' is undefined$", message)
        if not name:
            return f"template error: {message}", "check the variable's keys and attributes"
        word = name.group(1)
        hint = f"define it under vars:, in a --var-file, or on the command line: --var {word}=VALUE"
        close = did_you_mean(word, context)
        if close:
            hint = f"did you mean '{close}'? Otherwise {hint}"
        return f"undefined variable '{word}'", hint

    def render_tree(self, value: Any, path: SpecPath, deferred: Callable[[SpecPath], bool]) -> Any:
        """Render every string value below `path` in place, except paths `deferred` says to skip."""
        if deferred(path):
            return value
        if isinstance(value, str):
            return self.render(path, value)
        if isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = self.render_tree(item, path + (i,), deferred)
        elif isinstance(value, dict):
            for key in list(value):
                value[key] = self.render_tree(value[key], path + (key,), deferred)
        return value
