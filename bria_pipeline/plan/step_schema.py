"""The JSON Schema of a step type, made from its class: the plan schema's `$defs.step` is generated.

A step is written to the plan file as `{"type": TAG, **dataclasses.asdict(step)}` (plan/steps.py,
`step_to_dict`): every field under its own name, tuples as lists, nested dataclasses as objects,
None as null. Its schema says the same from the class: one property per dataclass field, typed from
its hint; a field without a default is required; no other property is allowed; the description is
the first paragraph of the class's docstring. A class says more than its hints with `FIELD_SCHEMA`
(merged into the field's schema, e.g. the keys a `dict` field must hold).

Nested dataclasses (OutputFields, Superseded, TrainingParams) are schemas of their own under
`$defs`, named in snake case (`output_fields`), and referred to by `$ref`.

`tools/plan_schema.py` writes the result into schemas/plan.schema.json and its packaged copy;
tests/plan/test_step_schema.py fails when they differ from what the classes say.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, Union

from .steps import STEP_TYPES, Step

JSON_TYPES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
STEP_DESCRIPTION = ("A typed step (bria_pipeline/plan/steps.py): `type` names the operation, the other fields are "
                    "its arguments.")


class StepSchemaError(TypeError):
    """A step type whose schema cannot be made from its class (a hint with no JSON form, no docstring)."""


def def_name(cls: type) -> str:
    """The name of a nested dataclass's schema under `$defs`: OutputFields -> output_fields."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__.lstrip("_")).lower()


def description(cls: type) -> str:
    """The first paragraph of the class's own docstring, on one line."""
    doc = cls.__dict__.get("__doc__") or ""
    if not doc.strip() or doc.startswith(f"{cls.__name__}("):  # none, or the signature dataclass writes
        raise StepSchemaError(f"{cls.__qualname__} has no docstring: its first paragraph is its description "
                              "in the plan schema; write one")
    return " ".join(doc.strip().split("\n\n")[0].split())


def _is_dataclass_type(hint: object) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


class _Schemas:
    """Makes the schemas of fields, collecting the nested dataclasses' under `defs`."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self.classes: dict[str, type] = {}  # the dataclass each of `defs` is made from

    def of_hint(self, hint: object, where: str) -> dict[str, Any]:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if hint is Any:
            return {}
        if isinstance(hint, type) and hint in JSON_TYPES:
            return {"type": JSON_TYPES[hint]}
        if _is_dataclass_type(hint):
            assert isinstance(hint, type)
            name = def_name(hint)
            known = self.classes.setdefault(name, hint)
            if known is not hint:
                raise StepSchemaError(f"{where}: {hint.__module__}.{hint.__qualname__} and "
                                      f"{known.__module__}.{known.__qualname__} would both be $defs.{name}; rename one")
            if name not in self.defs:
                self.defs[name] = {}  # taken: a dataclass that holds itself refers to its own name
                self.defs[name] = self.of_dataclass(hint)
            return {"$ref": f"#/$defs/{name}"}
        if origin is Literal:
            return {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return self._union(args, where)
        if origin in (tuple, list) and args:
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                raise StepSchemaError(f"{where}: a fixed-length tuple {hint} has no schema here; use tuple[X, ...]")
            return {"type": "array", "items": self.of_hint(args[0], where)}
        if origin is dict or hint is dict:
            if args and args[0] is not str:
                raise StepSchemaError(f"{where}: {hint}: JSON objects have string keys")
            values = args[1] if args else Any
            return {"type": "object"} if values is Any else {"type": "object", "additionalProperties":
                                                              self.of_hint(values, where)}
        raise StepSchemaError(f"{where}: the type {hint} has no JSON schema; use str, int, float, bool, None, "
                              "Literal, tuple[X, ...], dict[str, X] or a dataclass")

    def _union(self, args: tuple[object, ...], where: str) -> dict[str, Any]:
        branches = [self.of_hint(arg, where) for arg in args]
        simple = [b for b in branches if set(b) == {"type"} and isinstance(b["type"], str)]
        if len(simple) == len(branches):  # str | None -> {"type": ["string", "null"]}
            return {"type": [b["type"] for b in simple]}
        return {"oneOf": branches}

    def of_dataclass(self, cls: type, *, tag: str = "", extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """An object with one property per field, typed from the hints; fields without a default required."""
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise StepSchemaError(f"{cls.__qualname__}: its type hints cannot be read ({exc}): the classes they "
                                  "name must be importable from its module") from None
        properties: dict[str, Any] = {"type": {"const": tag}} if tag else {}
        required = ["type"] if tag else []
        for f in dataclasses.fields(cls):
            node = self.of_hint(hints[f.name], f"{cls.__qualname__}.{f.name}")
            properties[f.name] = {**node, **(extra or {}).get(f.name, {})}
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        unknown = set(extra or {}) - set(properties)
        if unknown:
            raise StepSchemaError(f"{cls.__qualname__}.FIELD_SCHEMA names no field of it: {sorted(unknown)}")
        out: dict[str, Any] = {"type": "object", "additionalProperties": False, "description": description(cls)}
        if tag:
            out["title"] = cls.__name__
        if required:
            out["required"] = required
        out["properties"] = properties
        return out


def step_schema(cls: type[Step]) -> dict[str, Any]:
    """The schema of one step type, with the `$defs` of the dataclasses its fields hold (by name)."""
    return steps_schema((cls,))


def steps_schema(classes: Iterable[type[Step]]) -> dict[str, Any]:
    """`{"description", "oneOf": [one schema per step type], "$defs": {nested dataclasses}}`."""
    schemas = _Schemas()
    branches = []
    for cls in classes:
        if not cls.TAG:
            raise StepSchemaError(f"{cls.__qualname__} is not a step type: it has no TAG")
        branches.append(schemas.of_dataclass(cls, tag=cls.TAG, extra=cls.FIELD_SCHEMA))
    return {"description": STEP_DESCRIPTION, "oneOf": branches, "$defs": dict(sorted(schemas.defs.items()))}


def package_step_types() -> tuple[type[Step], ...]:
    """The step types bria_pipeline declares, in the order plan/steps.py defines them."""
    return tuple(cls for cls in STEP_TYPES.values() if cls.__module__.startswith("bria_pipeline."))


GENERATED = "generated from bria_pipeline/plan/steps.py by tools/plan_schema.py: do not edit"


def with_steps(plan_schema: dict[str, Any], classes: Iterable[type[Step]] | None = None) -> dict[str, Any]:
    """The plan schema with `$defs.step` and the nested dataclasses' `$defs` made from the classes (the
    package's step types unless given); the `$defs` written by hand (marked by no `$comment` of ours)
    and the rest of it as they were."""
    made = steps_schema(package_step_types() if classes is None else classes)
    nested = made.pop("$defs")
    kept = {name: node for name, node in plan_schema.get("$defs", {}).items()
            if node.get("$comment") != GENERATED and name != "step"}
    clash = set(nested) & set(kept)
    if clash:
        raise StepSchemaError(f"$defs {sorted(clash)} of the plan schema are written by hand: a step field's "
                              "dataclass may not take their name")
    defs = {**kept, **{name: {"$comment": GENERATED, **node} for name, node in nested.items()},
            "step": {"$comment": GENERATED, **made}}
    return {**plan_schema, "$defs": dict(sorted(defs.items()))}
