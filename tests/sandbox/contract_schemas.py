"""Reading the API contract (OpenAPI 3.0 YAML) into JSON Schemas for response validation.

- Operations come from `paths` and from the path-like keys some contract files carry at their
  top level (later, more detailed copies of the model operations); a response must satisfy every
  copy that describes it.
- OpenAPI 3.0 `nullable: true` becomes a JSON Schema union with null; `oneOf` is read as `anyOf`
  because the contract uses it for overlapping alternatives (any object satisfies both branches
  of start_training's 400 schema, which strict oneOf would make unsatisfiable).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

METHODS = ("get", "post", "put", "delete", "patch")


@dataclass
class Operation:
    method: str
    template: str  # full path, e.g. /v1/tailored-gen/datasets/{dataset_id}
    operation_id: str
    responses: list[dict[str, Any]] = field(default_factory=list)  # one per copy in the contract
    regex: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.template))
        self.regex = re.compile(f"^{pattern}$")

    @property
    def params(self) -> int:
        return self.template.count("{")

    def listed_statuses(self) -> set[str]:
        return {code for copy_ in self.responses for code in copy_}

    def schemas_for(self, status: int) -> list[Any]:
        found = []
        for responses in self.responses:
            response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
            content = (response or {}).get("content", {})
            schema = (content.get("application/json") or {}).get("schema")
            if schema is not None:
                found.append(schema)
        return found


def _server_prefix(op: dict[str, Any], doc: dict[str, Any]) -> str:
    servers = op.get("servers") or doc.get("servers") or [{"url": ""}]
    return urlsplit(servers[0]["url"]).path.rstrip("/")


def _resolve(node: Any, doc: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(target, doc)
        return {k: _resolve(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc) for v in node]
    return node


def to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("example", "examples", "nullable") or (key == "description" and isinstance(value, str)):
            continue
        out["anyOf" if key == "oneOf" else key] = to_json_schema(value)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def load_operations(contract_dir: Path) -> list[Operation]:
    ops: dict[tuple[str, str], Operation] = {}
    for name in ("tailored-generation.openapi.yml", "status.openapi.yml"):
        doc = yaml.safe_load((contract_dir / name).read_text())
        sections = [doc.get("paths", {})] + [{k: v for k, v in doc.items() if isinstance(k, str) and k.startswith("/")}]
        for section in sections:
            for path, item in section.items():
                for method in METHODS:
                    op = item.get(method) if isinstance(item, dict) else None
                    if not op:
                        continue
                    template = _server_prefix(op, doc) + path
                    key = (method.upper(), template)
                    entry = ops.setdefault(key, Operation(method.upper(), template, op.get("operationId", "")))
                    entry.responses.append(_resolve(copy.deepcopy(op.get("responses", {})), doc))
    return list(ops.values())


def find_operation(ops: list[Operation], method: str, path: str) -> Operation | None:
    candidates = [op for op in ops if op.method == method and op.regex.match(path)]
    return min(candidates, key=lambda op: op.params) if candidates else None


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.tzinfo is not None


def validate(schema: Any, body: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(to_json_schema(schema), format_checker=_FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(body)]


def known_inconsistency(template: str, status: int, body: Any) -> str | None:
    """Responses the contract itself describes but its schemas cannot express."""
    if template == "/v2/status/{request_id}" and status == 200 and isinstance(body, dict):
        if body.get("status") == "IN_PROGRESS":
            return "the status schema has no IN_PROGRESS branch although its description documents it"
        result = body.get("result") or {}
        if "image_url" not in result and "video_url" not in result:
            return "the status schema's result has no structured-prompt branch although its description documents it"
    return None


CONTRACT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "contract"
_OPERATIONS: list[Operation] | None = None


def operations() -> list[Operation] | None:
    """The contract's operations, loaded once; None when the contract is not available."""
    global _OPERATIONS
    if _OPERATIONS is None and (CONTRACT_DIR / "tailored-generation.openapi.yml").is_file():
        _OPERATIONS = load_operations(CONTRACT_DIR)
    return _OPERATIONS


def response_problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """Schema violations of one API response (empty when valid or when no schema applies)."""
    ops = operations()
    if ops is None:
        return []
    op = find_operation(ops, method, path)
    if op is None or known_inconsistency(op.template, status, body):
        return []
    return [error for schema in op.schemas_for(status) for error in validate(schema, body)]
