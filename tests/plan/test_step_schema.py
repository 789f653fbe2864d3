"""The plan schema's step types are made from the step classes (plan/step_schema.py), and the schema
the repository ships is exactly what they make."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import jsonschema
import pytest

from bria_pipeline.plan.step_schema import StepSchemaError, package_step_types, step_schema, with_steps
from bria_pipeline.plan.steps import STEP_TYPES, Step, step_from_dict, step_to_dict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "schemas" / "plan.schema.json"


def _tool():
    spec = importlib.util.spec_from_file_location("plan_schema_tool", ROOT / "tools" / "plan_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _step_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator({**schema["$defs"]["step"], "$defs": schema["$defs"]})


def test_the_shipped_plan_schema_is_what_the_step_classes_make():
    stale = _tool().stale()
    assert not stale, (f"{', '.join(str(p.relative_to(ROOT)) for p, _ in stale)} differ from the step classes: "
                       f"run `python tools/plan_schema.py`\n{stale[0][1][:3000]}")


def test_the_schema_names_every_step_type_and_the_executor_carries_out_every_one():
    from bria_pipeline.apply.executor import execute  # noqa: F401  (it imports every handler)
    from bria_pipeline.apply.handlers import HANDLERS, unhandled

    ours = {tag: cls for tag, cls in STEP_TYPES.items() if cls.__module__ == "bria_pipeline.plan.steps"}
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))["$defs"]["step"]
    assert [s["properties"]["type"]["const"] for s in schema["oneOf"]] == list(ours)
    assert [s["title"] for s in schema["oneOf"]] == [cls.__name__ for cls in ours.values()]
    assert unhandled() == []
    assert {cls.TAG for cls in ours.values() if not cls.CARRIED_OUT} == {"summary", "moved"}
    assert all(cls in HANDLERS for cls in ours.values() if cls.CARRIED_OUT)


def test_the_check_fails_with_the_command_to_run_when_a_copy_differs(tmp_path):
    copy = tmp_path / "plan.schema.json"
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))
    del schema["$defs"]["step"]["oneOf"][0]  # a step type the classes declare, missing
    copy.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    tool = _tool()
    tool.COPIES = (copy,)
    tool.ROOT = tmp_path
    assert tool.main(["--check"]) == 1
    tool.COPIES = (SHIPPED,)
    tool.ROOT = ROOT
    assert tool.main(["--check"]) == 0
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "plan_schema.py"), "--check"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _value(hint: Any, name: str) -> Any:
    """A value of the hint, as a plan holds it (the first choice of a union or a Literal)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return "any"
    if dataclasses.is_dataclass(hint):
        return _instance(hint)
    if origin is Literal:
        return args[0]
    if origin in (typing.Union, __import__("types").UnionType):
        return _value(next(a for a in args if a is not type(None)), name)
    if origin in (tuple, list):
        return (_value(args[0], name),)
    if origin is dict or hint is dict:
        return {"project_name": "Lucy", "description": "a field"}  # a create_project body holds project_name
    return {str: f"{name}-value", bool: True, int: 7, float: 0.25}[hint]


def _instance(cls: Any) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _value(hints[f.name], f.name) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("cls", package_step_types(), ids=lambda c: c.TAG)
def test_every_step_type_as_the_plan_writes_it_validates_and_a_wrong_one_is_refused(cls):
    validator = _step_validator()
    written = json.loads(json.dumps(step_to_dict(_instance(cls))))
    errors = sorted(validator.iter_errors(written), key=str)
    assert not errors, errors[0]
    assert step_from_dict(written) == _instance(cls)
    assert not validator.is_valid({**written, "colour": "red"})  # an unknown field
    assert not validator.is_valid({**written, "type": "no_such_step"})
    for name, value in written.items():
        if name == "type":
            continue
        wrong = 3.5 if not isinstance(value, float) else "3.5"
        assert not validator.is_valid({**written, name: wrong}), f"{cls.TAG}.{name} takes {wrong!r}"
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    for name in required:
        assert not validator.is_valid({k: v for k, v in written.items() if k != name}), f"{cls.TAG} without {name}"
    optional = {k: v for k, v in written.items() if k == "type" or k in required}
    assert validator.is_valid(optional), f"{cls.TAG}: the fields with a default may be left out"


def test_a_create_project_body_must_name_the_project():
    validator = _step_validator()
    assert not validator.is_valid({"type": "create_project", "body": {"ip_type": "defined_character"}})
    assert validator.is_valid({"type": "create_project", "body": {"project_name": "Lucy"}})


@dataclass(frozen=True)
class _Pair:
    """Two numbers."""

    low: int
    high: float | None = None


@dataclass(frozen=True)
class Pair:
    """Another dataclass whose schema would be named `pair`."""

    low: str


@dataclass(frozen=True)
class _EveryHint(Step):
    """Every kind of field a step may hold.

    (Only the first paragraph is the description.)"""

    TAG: ClassVar[str] = "test_every_hint"
    FIELD_SCHEMA: ClassVar[dict[str, dict[str, Any]]] = {"labels": {"minProperties": 1}}
    name: str
    flag: bool
    mode: Literal["a", "b"]
    labels: dict[str, Any]
    counts: dict[str, int]
    pairs: tuple[_Pair, ...]
    pair: _Pair | None
    maybe: int | None = None
    anything: Any = None
    later: str = field(default="", kw_only=True)


def test_the_schema_follows_the_type_hints():
    made = step_schema(_EveryHint)
    [branch] = made["oneOf"]
    assert branch["description"] == "Every kind of field a step may hold."
    assert branch["required"] == ["type", "name", "flag", "mode", "labels", "counts", "pairs", "pair"]
    assert branch["additionalProperties"] is False
    assert branch["properties"] == {
        "type": {"const": "test_every_hint"},
        "name": {"type": "string"},
        "flag": {"type": "boolean"},
        "mode": {"enum": ["a", "b"]},
        "labels": {"type": "object", "minProperties": 1},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "pairs": {"type": "array", "items": {"$ref": "#/$defs/pair"}},
        "pair": {"oneOf": [{"$ref": "#/$defs/pair"}, {"type": "null"}]},
        "maybe": {"type": ["integer", "null"]},
        "anything": {},
        "later": {"type": "string"},
    }
    assert made["$defs"]["pair"] == {"type": "object", "additionalProperties": False, "description": "Two numbers.",
                                     "required": ["low"], "properties": {"low": {"type": "integer"},
                                                                         "high": {"type": ["number", "null"]}}}
    step = _EveryHint("n", True, "b", {"x": 1}, {"y": 2}, (_Pair(1, 0.5),), None, later="z")
    jsonschema.validate(step_to_dict(step), made, cls=jsonschema.Draft202012Validator)
    written = json.loads(json.dumps(step_to_dict(step)))
    assert step_from_dict(written) == step  # read back by its hints: lists to tuples, objects to dataclasses
    again = step_from_dict({**written, "pair": {"low": 2, "high": None}})
    assert again.pair == _Pair(2) and again.pairs == (_Pair(1, 0.5),)


def test_a_step_whose_nested_object_is_not_one_is_a_malformed_plan():
    from bria_pipeline.plan.actions import Action
    from bria_pipeline.plan.document import Plan, plan_from_dict, plan_to_dict
    from bria_pipeline.plan.errors import PlanFileError
    from bria_pipeline.plan.steps import StartTraining
    from bria_pipeline.training_params import TrainingParams

    step = StartTraining("lucy-lora", TrainingParams(rank=64))
    document = json.loads(json.dumps(plan_to_dict(Plan((Action("model.lucy-lora.training", "create", "new", step=step),),
                                                       "spec.yaml", "p", "s", "o", "l"))))
    assert plan_from_dict(document).actions[0].step == step
    document["actions"][0]["step"]["params"] = "rank 64"
    with pytest.raises(PlanFileError, match=r"malformed plan \(TrainingParams is an object, not 'rank 64'\)"):
        plan_from_dict(document)


def test_a_field_without_a_json_form_or_a_step_without_a_docstring_is_refused():
    @dataclass(frozen=True)
    class Pairs(Step):
        """Holds a fixed-length tuple."""

        TAG: ClassVar[str] = "test_pairs"
        pair: tuple[int, str]

    @dataclass(frozen=True)
    class Undocumented(Step):
        TAG: ClassVar[str] = "test_undocumented"
        n: int

    @dataclass(frozen=True)
    class Misnamed(Step):
        """Its FIELD_SCHEMA names a field it has not."""

        TAG: ClassVar[str] = "test_misnamed"
        FIELD_SCHEMA: ClassVar[dict[str, dict[str, Any]]] = {"nmae": {"minimum": 0}}
        n: int

    @dataclass(frozen=True)
    class TwoPairs(Step):
        """Holds two dataclasses named alike."""

        TAG: ClassVar[str] = "test_two_pairs"
        mine: _Pair
        other: Pair

    @dataclass(frozen=True)
    class Unresolved(Step):
        """A hint naming a class the module does not hold."""

        TAG: ClassVar[str] = "test_unresolved"
        other: NoSuchClass  # noqa: F821

    try:
        with pytest.raises(StepSchemaError, match=r"Unresolved: its type hints cannot be read \(name 'NoSuchClass'"):
            step_schema(Unresolved)
        with pytest.raises(StepSchemaError, match=r"TwoPairs\.other: .*Pair and .*Pair would both be \$defs\.pair"):
            step_schema(TwoPairs)
        with pytest.raises(StepSchemaError, match=r"Pairs\.pair: a fixed-length tuple"):
            step_schema(Pairs)
        with pytest.raises(StepSchemaError, match="Undocumented has no docstring"):
            step_schema(Undocumented)
        with pytest.raises(StepSchemaError, match=r"FIELD_SCHEMA names no field of it: \['nmae'\]"):
            step_schema(Misnamed)
    finally:
        for tag in ("test_pairs", "test_undocumented", "test_misnamed", "test_two_pairs", "test_unresolved"):
            STEP_TYPES.pop(tag, None)


def test_a_hand_written_def_keeps_its_name():
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))
    schema["$defs"]["output_fields"].pop("$comment")  # as if written by hand
    with pytest.raises(StepSchemaError, match=r"\['output_fields'\] of the plan schema are written by hand"):
        with_steps(schema)
