"""Jinja2 templates in spec values, sandboxed so that a spec from a stranger is safe to validate.

Only string values are rendered (never keys), so a template can fill in a value but cannot add
keys or change the file's structure. A value that is exactly one expression, ``"{{ steps }}"``,
keeps the expression's type when it is a number or a boolean, so ``total_training_steps:
"{{ steps }}"`` with ``--var steps=300`` is the integer 300.

What a template can do: read variables, use filters (``upper``, ``join``, ``default``, ...),
``{% if %}`` and ``{% set %}``. What it cannot: reach Python internals (``''.__class__`` and
friends are refused by Jinja's sandbox), read files (``import``, ``include``, ``extends`` are
refused, and there is no loader), read the environment, loop (``for``), define macros, mutate a
list or map, or build huge values: every step is bounded in size, integer width, total work and
time before it allocates (see `template_limits`). Results are deterministic: ``random`` and ``lipsum`` are not available.
"""

from __future__ import annotations

import re
import traceback
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bria_pipeline.spec import template_limits as limits
from bria_pipeline.spec.document import Document
from bria_pipeline.spec.problems import SpecPath, SpecProblem, did_you_mean

MAX_RENDERED = limits.MAX_VALUE  # characters one rendered value may have
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
_UNSAFE_STR_METHODS = frozenset(
    {"format", "format_map", "ljust", "rjust", "center", "zfill", "expandtabs", "translate", "maketrans"})
_REMOVED_FILTERS = ("center", "indent", "format", "wordwrap", "slice", "random", "filesizeformat")


class _CheckedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` (concatenation) going through the environment's check."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class SpecTemplateEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, narrowed to filling in values, with every step bounded (template_limits)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})
    code_generator_class = _CheckedCodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                         finalize=_finalize)
        self.globals.clear()
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters = {name: limits.checked_filter(name, func) for name, func in self.filters.items()}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, (str, bytes, bytearray)) and attr in _UNSAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        """No str.format / format_map at all (padding widths would build huge strings)."""
        return None

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.before_binop(operator, left, right)
        return limits.result(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        limits.read(arg)
        return super().call_unop(context, operator, arg)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's signature
        args = limits.before_method(__obj, args, kwargs)
        name = getattr(__obj, "__name__", "the call")
        return limits.result(super().call(__context, __obj, *args, **kwargs), f"'{name}()'")

    def getattr(self, obj: Any, attribute: str) -> Any:
        limits.budget().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        limits.budget().tick()
        return super().getitem(obj, argument)

    def checked_concat(self, values: tuple[Any, ...]) -> str:
        """``a ~ b``: the operands weighed and the result estimated before joining."""
        limits.read(*values)
        limits.expect(sum(limits.budget().weigh(v) for v in values), "'~'")
        return "".join(map(str, values))


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` output: weighed and charged, so repeated outputs cannot pile up."""
    limits.output(value)
    return value


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
    return ENVIRONMENT.from_string(tree), None


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
        self.budget = limits.Budget.for_spec(self.variables)  # the time all the values together may take
        self.markup = 0  # characters of template code compiled for this spec
        self._texts: set[str] = set()
        self._exhausted = False  # a spec-wide bound was reached (and reported once)

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
        if self._exhausted:
            self.failed.add(path)
            return None
        if text not in self._texts:
            self._texts.add(text)
            self.markup += limits.markup_size(text)
            if self.markup > limits.MAX_SPEC_MARKUP:
                self._exhausted = True
                self._problem(path, limits.TemplateLimitError(""),
                              f"template refused: the templates of this spec hold more than {limits.MAX_SPEC_MARKUP:,} "
                              "characters of template code ({{ }} and {% %}); later values are not rendered",
                              limits.HINT)
                return None
        try:
            template, refused = _compile(text)
            if refused is not None:
                word, lineno = refused
                self._problem(
                    path, TemplateSyntaxError("refused", lineno), f"'{{% {word} %}}' is not allowed in spec templates",
                    "templates fill in values from variables; they cannot read files, loop or define macros",
                )
                return None
            assert template is not None  # _compile gives a template or a refusal
            with limits.rendering(self.budget):
                rendered = template.render(context)
            if len(rendered) > MAX_RENDERED:
                limits.expect(len(rendered), "the rendered value")
            single = _SINGLE_EXPRESSION.match(text.strip())
            if single:
                with limits.rendering(self.budget):
                    value = ENVIRONMENT.compile_expression(single.group("expr"), undefined_to_none=False)(**context)
                if isinstance(value, (bool, int, float)) and not isinstance(value, Undefined):
                    return value
            return rendered
        except TemplateSyntaxError as exc:
            self._problem(path, exc, f"template syntax error: {exc.message}",
                          "Jinja syntax: {{ variable }}, {{ variable | filter }}, {% if cond %}...{% endif %}")
        except UndefinedError as exc:
            self._problem(path, exc, *self._undefined(str(exc.message or exc), context))
        except limits.TemplateLimitError as exc:
            self._problem(path, exc, f"template refused: {exc}", exc.hint)
            self._exhausted = self.budget.exhausted
        except (MemoryError, RecursionError) as exc:
            self._problem(path, exc, f"template refused: it ran out of {'memory' if isinstance(exc, MemoryError) else 'nesting depth'}",
                          limits.HINT)
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
