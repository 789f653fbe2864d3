"""The spec's JSON Schema: loading it from the package and turning its errors into problems.

The schema ships inside the package (``bria_pipeline/data/spec.schema.json``) so that
``bria-pipeline schema`` works from an installed wheel; ``schemas/spec.schema.json`` in the
repository is the same file, for editors (a test keeps the two identical).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from bria_pipeline.masking import mask_url, url_secret_parts
from bria_pipeline.spec.document import Document
from bria_pipeline.spec.problems import SpecPath, SpecProblem, did_you_mean

_IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]*$"
_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a map",
    "boolean": "true or false",
    "null": "nothing",
}


def schema_text() -> str:
    return resources.files("bria_pipeline").joinpath("data/spec.schema.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def spec_schema() -> dict[str, Any]:
    return json.loads(schema_text())


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(spec_schema())


def _found(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        if "://" in value:  # a URL is shown without what may hold a secret (credentials, query, ...)
            value = mask_url(value)
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    words = [_TYPE_WORDS.get(t, t) for t in names]
    return " or ".join(words)


def _range_hint(schema: dict[str, Any]) -> str | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"allowed: {low:g} to {high:g}"
    if low is not None:
        return f"allowed: {low:g} or more"
    if high is not None:
        return f"allowed: {high:g} or less"
    return None


def _branch_type_fits(branch: dict[str, Any], value: Any) -> bool:
    """Does a oneOf/anyOf branch accept this kind of value (ignoring its other constraints)?"""
    resolved = branch
    if "$ref" in branch:
        name = branch["$ref"].rsplit("/", 1)[-1]
        resolved = spec_schema()["$defs"].get(name, {})
    if "const" in resolved:
        return resolved["const"] == value
    types = resolved.get("type")
    if types is None:
        return True
    types = [types] if isinstance(types, str) else types
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "null": value is None,
    }
    return any(checks.get(t, False) for t in types)


def _describe(doc: Document, error: ValidationError) -> Iterable[SpecProblem]:
    path: SpecPath = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance  # the spec's value (JSON) that failed
    description = schema.get("description")
    # the schema's own value for the failing keyword (JSON); jsonschema sets it on every error it reports
    validator_value: Any = error.validator_value

    if "propertyNames" in error.relative_schema_path:
        # a key that is not a valid name: jsonschema reports the inner failure with the key as instance
        key = str(value)
        if str(validator_value) == _IDENTIFIER:  # variable names: usable as {{ name }}
            hint = "use letters, digits and _ (not starting with a digit)"
        elif description:  # the names' own rule (the decisions file: output addresses)
            hint = description
        else:
            hint = "names use letters, digits, '.', '_' and '-', start with a letter or digit, at most 64 characters"
        yield doc.problem(path + (key,), f"'{key}' is not a valid name here", hint, key=True)
        return
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        for key in value:
            if key in allowed:
                continue
            close = did_you_mean(key, allowed)
            hint = f"did you mean '{close}'? " if close else ""
            hint += f"allowed keys here: {', '.join(allowed)}"
            yield doc.problem(path + (key,), f"unknown key '{key}'", hint, key=True)
        return
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield doc.problem(path, f"missing required key '{missing}'",
                          (schema.get("properties", {}).get(missing, {}) or {}).get("description"))
        return
    if kind == "type":
        yield doc.problem(path, f"expected {_expected(validator_value)}, found {_found(value)}", description)
        return
    if kind == "enum":
        choices = [str(c) for c in validator_value]
        close = did_you_mean(str(value), choices)
        hint = (f"did you mean '{close}'? " if close else "") + f"allowed: {', '.join(choices)}"
        yield doc.problem(path, f"{_found(value)} is not an allowed value", hint)
        return
    if kind == "const":
        yield doc.problem(path, f"expected {validator_value!r}, found {_found(value)}", description)
        return
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = "below the minimum" if "inimum" in kind else "above the maximum"
        yield doc.problem(path, f"{value} is {word} {validator_value:g}", _range_hint(schema) or description)
        return
    if kind == "minItems":
        yield doc.problem(path, f"needs at least {validator_value} item{'s' if validator_value != 1 else ''}",
                          description)
        return
    if kind == "maxItems":
        yield doc.problem(path, f"has {len(value)} items; at most {validator_value} are allowed", description)
        return
    if kind in ("minLength", "minProperties"):
        yield doc.problem(path, "must not be empty", description)
        return
    if kind == "uniqueItems":
        yield doc.problem(path, "lists the same value more than once", "each value may appear once")
        return
    if kind == "pattern":
        secret = url_secret_parts(value) if isinstance(value, str) and "://" in value else []
        if secret and "://" in schema.get("pattern", "") and not schema.get("pattern", "").startswith("^https?"):
            yield doc.problem(path, f"{_found(value)} carries {' and '.join(secret)}: this URL carries none of them",
                              "keep only scheme://bucket/prefix; credentials and options come from the cloud's own environment "
                              "(AWS_*, GOOGLE_*, AZURE_*), never from the spec")
        elif schema.get("pattern", "").startswith("^https?"):
            yield doc.problem(path, f"{_found(value)} is not an http(s) URL", "write a full URL: https://...")
        else:
            yield doc.problem(path, f"{_found(value)} is not a valid name", description)
        return
    if kind in ("oneOf", "anyOf"):
        branches = validator_value
        if all(set(b) == {"required"} for b in branches) and isinstance(value, dict):
            names = [b["required"][0] for b in branches]
            present = [n for n in names if n in value]
            if present:
                yield doc.problem(path, f"give only one of {' or '.join(names)}, not {' and '.join(present)}",
                                  description)
            else:
                yield doc.problem(path, f"needs one of: {', '.join(names)}", description)
            return
        fitting = [i for i, b in enumerate(branches) if _branch_type_fits(b, value)]
        if not fitting:
            kinds = []
            for b in branches:
                resolved = b
                if "$ref" in b:
                    resolved = spec_schema()["$defs"].get(b["$ref"].rsplit("/", 1)[-1], {})
                if "const" in resolved:
                    kinds.append(repr(resolved["const"]))
                elif "type" in resolved:
                    kinds.append(_expected(resolved["type"]))
            yield doc.problem(path, f"expected {' or '.join(kinds)}, found {_found(value)}", description)
            return
        for sub in error.context or ():
            if sub.schema_path and sub.schema_path[0] in fitting[:1]:
                yield from _describe(doc, sub)
        return
    yield doc.problem(path, error.message, description)


@lru_cache(maxsize=4)
def packaged_validator(name: str) -> Draft202012Validator:
    """A validator for another schema shipped in ``bria_pipeline/data/`` (``decisions.schema.json``)."""
    text = resources.files("bria_pipeline").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


def validate_against_schema(doc: Document, skip: set[SpecPath] | None = None,
                            validator: Draft202012Validator | None = None) -> tuple[list[SpecProblem], set[SpecPath]]:
    """Problems of the document's data against the spec schema (or `validator`'s), and the paths they were found at.

    Values under a path in `skip` (templates that failed to render) are not reported again.
    """
    skip = skip or set()
    problems: list[SpecProblem] = []
    bad: set[SpecPath] = set()
    for error in (validator or _validator()).iter_errors(doc.data):
        path = tuple(error.absolute_path)
        if any(path[: len(s)] == s for s in skip):
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            bad.update(path + (k,) for k in error.instance if k not in allowed)  # the rest is sound
        elif "propertyNames" in error.relative_schema_path:
            bad.add(path + (str(error.instance),))
        else:
            bad.add(path)
        problems.extend(_describe(doc, error))
    return problems, bad
