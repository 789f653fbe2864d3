"""Typed reading of JSON request bodies, with contract-style 400 answers.

    f = Fields(body)
    name = f.str("project_name", required=True)
    rank = f.int("rank", minimum=4, maximum=256)

Each wrong field answers 400 naming the field, the input and the rule (never a framework 422).
"""

from __future__ import annotations

import builtins

from collections.abc import Iterable
from typing import Any

from bria_pipeline.sandbox.problems import ApiProblem, field_error

_MISSING = object()


class Fields:
    def __init__(self, body: Any, *, what: str = "request body") -> None:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiProblem(400, f"The {what} must be a JSON object.")
        self.body = body

    def has(self, name: str) -> bool:
        return self.body.get(name) is not None

    def _get(self, name: str, required: bool) -> Any:
        value = self.body.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise field_error(name, "Field required", None)
            return _MISSING
        return value

    def str(self, name: str, *, required: bool = False, default: Any = None, allow_empty: bool = True) -> Any:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            raise field_error(name, "Input should be a valid string", value)
        if not allow_empty and not value.strip():
            raise field_error(name, "String should not be empty", value)
        return value

    def enum(self, name: builtins.str, choices: Iterable[builtins.str], *, required: builtins.bool = False, default: Any = None) -> Any:
        value = self.str(name, required=required, default=_MISSING)
        if value is _MISSING:
            return default
        choices = list(choices)
        if value not in choices:
            raise field_error(name, "Input should be " + ", ".join(repr(c) for c in choices), value)
        return value

    def bool(self, name: builtins.str, *, default: builtins.bool = False, required: builtins.bool = False) -> Any:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise field_error(name, "Input should be a valid boolean", value)

    def int(self, name: builtins.str, *, required: builtins.bool = False, default: Any = None,
            minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(name, "Input should be a valid integer", value)
        _check_range(name, value, minimum, maximum)
        return value

    def number(self, name: builtins.str, *, required: builtins.bool = False, default: Any = None,
               minimum: float | None = None, maximum: float | None = None) -> Any:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise field_error(name, "Input should be a valid number", value)
        _check_range(name, value, minimum, maximum)
        return float(value)

    def str_list(self, name: builtins.str, *, required: builtins.bool = False, min_items: builtins.int | None = None,
                 max_items: builtins.int | None = None) -> Any:
        value = self._get(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise field_error(name, "Input should be a list of strings", value)
        if min_items is not None and len(value) < min_items:
            raise field_error(name, f"List should have at least {min_items} items", f"{len(value)} items")
        if max_items is not None and len(value) > max_items:
            raise field_error(name, f"List should have at most {max_items} items", f"{len(value)} items")
        return value

    def reject(self, names: Iterable[builtins.str], why: builtins.str) -> None:
        present = [n for n in names if n in self.body]
        if present:
            raise ApiProblem(400, f"{', '.join(present)}: {why}")


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise field_error(name, f"Input should be greater than or equal to {minimum:g}", value)
    if maximum is not None and value > maximum:
        raise field_error(name, f"Input should be less than or equal to {maximum:g}", value)


def path_int(value: str, what: str) -> int:
    """Path ids are integers; anything else cannot name an existing resource (404)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiProblem(404, f"{what} {value!r} not found") from None
    if number < 0:
        raise ApiProblem(404, f"{what} {value!r} not found")
    return number


def query_bool(params: Any, name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise field_error(name, "Input should be a valid boolean", raw)
