"""Bounds on what a spec template may build, checked before each step allocates.

A spec from a stranger's pull request is rendered while it is validated, so a template must not
be able to take the runner down. Checking only the final string is not enough: a template can
build gigabytes in one step (``s|replace("a", s)``, ``list|join``, ``"%0999999999d" % 1``), keep many
large values alive with ``{% set %}``, or square an integer until each multiplication takes
minutes. So every step a template can take is bounded:

- **size**: every value an operation reads or produces weighs at most `MAX_VALUE` (a string's
  characters, a list's items and what they hold, nested). Steps that multiply sizes (``*``,
  ``replace``, ``join``, ``batch``, ``%`` padding) are estimated and refused *before* they run;
  the others are checked on their result. Weights of containers are remembered by identity
  (the variables are weighed once per spec), so reading a large value again costs nothing.
- **work**: the weights produced and output while rendering one value add up to at most
  `MAX_WORK`, which bounds the memory kept alive by ``{% set %}`` and the text piled up by
  repeated ``{{ }}`` outputs.
- **integers**: at most `MAX_INT_BITS` bits, estimated before a multiplication or a power.
- **time**: one value renders in at most `MAX_SECONDS` (checked at every step, a backstop).
- **the whole spec**: its templates hold at most `MAX_SPEC_MARKUP` characters of template code
  (compiling is the costly part), and all its values together render in `MAX_SPEC_SECONDS` (a
  prompt is rendered once per matrix combination, up to 20,000 times).

A step over a bound raises `TemplateLimitError` (a Jinja `SecurityError`), which the renderer
reports as the spec's problem, at the value's line, with how to fix it.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, Callable

from jinja2.exceptions import SecurityError
from jinja2.utils import _PassArg

MAX_VALUE = 64 * 1024  # weight of one value: characters of a string, items (nested) of a list or map
MAX_WORK = 4 * 1024 * 1024  # weights produced (and output) while rendering one value
MAX_INT_BITS = 4096
MAX_SECONDS = 1.0
# one spec, all its values together (a prompt is rendered once per matrix combination)
MAX_SPEC_MARKUP = 32 * 1024  # characters inside {{ }} and {% %} (compiling costs about 30 us each)
MAX_SPEC_SECONDS = 10.0

HINT = (
    "a value built in a template is at most 65,536 characters (or list items); write long text in the "
    "YAML itself or in a --var-file, and keep templates to filling in variables"
)
_CONTAINERS = (list, tuple, set, frozenset, dict)


class TemplateLimitError(SecurityError):
    """A template step would go over one of the bounds above."""

    def __init__(self, message: str, hint: str = HINT) -> None:
        super().__init__(message)
        self.hint = hint


Lookup = Callable[[Any], "int | None"]


def weight(value: Any, cap: int = MAX_VALUE, known: Lookup | None = None) -> int:
    """A value's size: characters of a string, 1 + the weights of a container's items, nested.

    Counting stops as soon as `cap` is passed, so weighing a huge value costs at most `cap` steps;
    `known` gives the weight of containers weighed before (the variables, earlier results).
    Integers weigh one per 64 bits; any other object (an iterator, a number, None) weighs 1.
    """
    if isinstance(value, str):
        return len(value) or 1
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += max(len(item), 1)
        elif isinstance(item, _CONTAINERS):
            seen = known(item) if known is not None else None
            if seen is not None:
                total += seen
            else:
                total += 1
                values = item.values() if isinstance(item, dict) else ()
                stack.extend(islice(item, cap - total + 1))
                stack.extend(islice(values, cap - total + 1))
        else:
            total += 1
            if isinstance(item, int) and not isinstance(item, bool):
                total += item.bit_length() // 64
        if total > cap:
            return total
    return total


class Budget:
    """What rendering may still spend: one value's budget (work, time), within its spec's time.

    It also remembers the weights of containers already weighed (by identity, holding a reference
    so the identity stays theirs), so reading a large variable again costs nothing.
    """

    def __init__(self, *, work: int | None = None, seconds: float | None = None, parent: Budget | None = None,
                 scope: str = "while rendering this value") -> None:
        self.limit = MAX_WORK if work is None else work
        self.seconds = MAX_SECONDS if seconds is None else seconds
        self.deadline = time.monotonic() + self.seconds
        self.parent = parent
        self.scope = scope
        self.work = 0
        self._steps = 0
        self._known: dict[int, tuple[Any, int]] = {}

    @classmethod
    def for_spec(cls, variables: Any = None) -> Budget:
        """The budget of all the values of one spec; `variables` are weighed once, here."""
        spec = cls(work=2**62, seconds=MAX_SPEC_SECONDS, scope="for all the values of this spec together")
        spec._remember_tree(variables)
        return spec

    @property
    def exhausted(self) -> bool:
        return self.work > self.limit or time.monotonic() >= self.deadline

    def tick(self) -> None:
        budget: Budget | None = self
        now = time.monotonic()
        while budget is not None:
            if now >= budget.deadline:
                raise TemplateLimitError(
                    f"rendering took more than {budget.seconds:g} s {budget.scope}",
                    "keep templates to filling in variables; a value must render in well under a second",
                )
            budget = budget.parent

    def charge(self, amount: int) -> None:
        self.work += amount
        if self.work > self.limit:
            raise TemplateLimitError(
                f"the template builds more than {self.limit:,} characters (or list items) in all {self.scope}")
        self._steps += 1
        if self._steps % 16 == 1 or amount > 4096:  # the clock every few steps: each step is bounded
            self.tick()

    # --- weights ---------------------------------------------------------------------------------

    def known(self, value: Any) -> int | None:
        budget: Budget | None = self
        while budget is not None:
            hit = budget._known.get(id(value))
            if hit is not None and hit[0] is value:
                return hit[1]
            budget = budget.parent
        return None

    def weigh(self, value: Any) -> int:
        kind = type(value)
        if kind is str:
            return len(value) or 1
        if kind is float or kind is bool or value is None:
            return 1
        if kind is int:
            return 1 + value.bit_length() // 64
        seen = self.known(value)
        if seen is not None:
            return seen
        size = weight(value, MAX_VALUE, self.known)
        if isinstance(value, _CONTAINERS):
            self._known[id(value)] = (value, size)
        return size

    def _remember_tree(self, value: Any, depth: int = 0) -> int:
        """Weigh `value` and every container inside it once (shared ones once), remembering each."""
        if isinstance(value, (str, bytes)) or not isinstance(value, _CONTAINERS):
            return weight(value)
        seen = self.known(value)
        if seen is not None:
            return seen
        total = 1
        if depth < 200:
            items = list(value.items()) if isinstance(value, dict) else value
            for item in items:
                total += sum(self._remember_tree(v, depth + 1) for v in item) if isinstance(value, dict) \
                    else self._remember_tree(item, depth + 1)
                if total > MAX_VALUE:
                    break
        else:
            total = MAX_VALUE + 1
        self._known[id(value)] = (value, min(total, MAX_VALUE + 1))
        return total


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


@contextmanager
def rendering(spec: Budget | None = None) -> Iterator[Budget]:
    """A fresh budget for rendering one value (within `spec`'s time)."""
    value = Budget(parent=spec)
    token = _CURRENT.set(value)
    try:
        yield value
    finally:
        _CURRENT.reset(token)


def budget() -> Budget:
    """The budget of the value being rendered (a fresh one for steps Jinja runs at compile time)."""
    return _CURRENT.get() or Budget()


_MARKUP = re.compile(r"\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)|\{#.*?(?:#\}|$)", re.S)


def markup_size(text: str) -> int:
    """Characters of template code in `text` (inside {{ }}, {% %} and {# #}): what compiling costs."""
    return sum(len(found) for found in _MARKUP.findall(text))


def read(*values: Any) -> None:
    """Check the operands of a step: each at most MAX_VALUE (remembered weights make this cheap)."""
    spend = budget()
    for value in values:
        if (type(value) is not str or len(value) > MAX_VALUE) and spend.weigh(value) > MAX_VALUE:
            raise TemplateLimitError(f"a value used in the template holds more than {MAX_VALUE:,} characters (or list items)")


def output(value: Any) -> None:
    """A ``{{ ... }}`` output: checked, and charged (outputs pile up in the rendered text)."""
    spend = budget()
    size = len(value) if type(value) is str else spend.weigh(value)
    if size > MAX_VALUE:
        raise TemplateLimitError(f"a value used in the template holds more than {MAX_VALUE:,} characters (or list items)")
    spend.charge(size)


def expect(size: int, what: str) -> None:
    """Refuse a step whose result is estimated at `size`, before it runs."""
    if size > MAX_VALUE:
        raise TemplateLimitError(f"{what} would exceed {MAX_VALUE:,} characters (or list items): it would build {size:,}")
    budget().charge(size)


def _checked_items(items: Iterator[Any], what: str) -> Iterator[Any]:
    total = 0
    for item in items:
        size = budget().weigh(item) + 1
        total += size
        if total > MAX_VALUE:
            expect(total, what)
        budget().charge(size)
        yield item


def result(value: Any, what: str) -> Any:
    """Check a step's result; an iterator is checked item by item as it is consumed."""
    if type(value) is str:  # the common case, first
        if len(value) > MAX_VALUE:
            expect(len(value), what)
        budget().charge(len(value))
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _int_error(what)
    if isinstance(value, Iterator) and not isinstance(value, (str, bytes)):
        return _checked_items(value, what)
    expect(budget().weigh(value), what)
    return value


def materialize(value: Any, what: str) -> Any:
    """An iterable's items as a list, refused as soon as they weigh more than MAX_VALUE."""
    if isinstance(value, (str, bytes, list, tuple)):
        return value
    return list(_checked_items(iter(value), what))


def _int_error(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} would build an integer over {MAX_INT_BITS} bits",
                              "numbers in templates are for parameters and seeds; write large numbers out")


def _bits(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 64
    return max(value.bit_length(), 1)


# --- binary operators ------------------------------------------------------------------------

_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.S)


def _printf_size(fmt: str | bytes, args: Any) -> int:
    """An upper bound of ``fmt % args``; widths given by ``*`` are refused."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    size = len(text)
    specs = 0
    for width, precision, _conv in _PRINTF.findall(text):
        if "*" in (width, precision):
            raise TemplateLimitError("a '*' width or precision in '%' formatting is not allowed in spec templates")
        for digits in (width, precision):
            if len(digits) > 6 or (digits and int(digits) > MAX_VALUE):
                raise TemplateLimitError(
                    f"a width or precision of {digits[:12]}{'...' if len(digits) > 12 else ''} in '%' formatting "
                    f"is over the limit of {MAX_VALUE:,} characters")
            size += int(digits or 0)
        specs += 1
    return size + specs * budget().weigh(args)


def before_binop(operator: str, left: Any, right: Any) -> None:
    read(left, right)
    if operator == "**":
        if not isinstance(right, (int, float)) or abs(right) > 64 or (
            isinstance(left, (int, float)) and abs(left) > 10**6
        ):
            raise TemplateLimitError("exponents above 64 (or bases above a million) are not allowed in spec templates",
                                     "write the number out")
        if isinstance(left, int) and isinstance(right, int) and right > 0 and _bits(left) * right > MAX_INT_BITS:
            raise _int_error("'**'")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
                expect(budget().weigh(seq) * max(count, 0), "'*'")
        if isinstance(left, int) and isinstance(right, int) and _bits(left) + _bits(right) > MAX_INT_BITS:
            raise _int_error("'*'")
    elif operator == "%" and isinstance(left, (str, bytes)):
        expect(_printf_size(left, right), "'%' formatting")


# --- calls of methods and filters ------------------------------------------------------------


def _replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _join_size(items: Any, separator: Any) -> int:
    return budget().weigh(items) + budget().weigh(separator) * len(items)


def before_method(obj: Any, args: tuple, kwargs: dict) -> tuple:
    """Estimate the str/bytes methods that multiply sizes; the call's (possibly materialized) args."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    read(*args, *kwargs.values())
    if not isinstance(owner, (str, bytes, bytearray)):
        return args
    if name == "replace" and len(args) >= 2:
        expect(_replace_size(owner, *args[:3]), f"'.{name}()'")
    elif name == "join" and args:
        items = materialize(args[0], "'.join()'")
        expect(_join_size(items, owner), "'.join()'")
        args = (items, *args[1:])
    return args


def _filter_replace(args: list, kwargs: dict) -> None:
    if len(args) >= 3:
        expect(_replace_size(args[0], args[1], args[2], kwargs.get("count", args[3] if len(args) > 3 else -1)),
               "the filter 'replace'")


def _filter_join(args: list, kwargs: dict) -> None:
    args[0] = materialize(args[0], "the filter 'join'")
    separator = kwargs.get("d", args[1] if len(args) > 1 else "")
    expect(_join_size(args[0], separator), "the filter 'join'")


def _filter_batch(args: list, kwargs: dict) -> None:
    size = kwargs.get("linecount", args[1] if len(args) > 1 else 0)
    if isinstance(size, int):
        expect(size, "the filter 'batch'")


def _filter_sum(args: list, kwargs: dict) -> None:
    start = kwargs.get("start", args[2] if len(args) > 2 else 0)
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise TemplateLimitError("the filter 'sum' adds numbers only in spec templates",
                                 "use join to put strings or lists together")


_FILTER_CHECKS: dict[str, Callable[[list, dict], None]] = {
    "replace": _filter_replace, "join": _filter_join, "batch": _filter_batch, "sum": _filter_sum,
}


def checked_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` (a Jinja filter) with its operands, its estimate and its result checked."""
    skip = 0 if _PassArg.from_obj(func) is None else 1  # the context / environment Jinja passes first
    check = _FILTER_CHECKS.get(name)
    what = f"the filter '{name}'"

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        read(*args[skip:], *kwargs.values())
        if check is not None and len(args) > skip:
            rest = list(args[skip:])
            check(rest, kwargs)
            args = (*args[:skip], *rest)
        return result(func(*args, **kwargs), what)

    return run
