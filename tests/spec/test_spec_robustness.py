"""Validation never crashes: any value of any kind anywhere in a real spec gives problems, not a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import yaml

from bria_pipeline.spec import check_spec
from bria_pipeline.spec.yaml_source import read_document
from example_spec import copy_example

REPLACEMENTS: list[Any] = [None, 5, "x", [], {}, [1], {"a": 1}, True, 2.5]


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


def test_every_value_replaced_by_a_wrong_kind_is_reported_not_crashed(tmp_path: Path) -> None:
    root = tmp_path / "lucy"
    copy_example(root)
    doc, _ = read_document(root / "spec.yaml", "spec.yaml")
    paths = list(_paths(doc.data))[1:]
    target = root / "mutated.yaml"
    errors_seen = 0
    for n, path in enumerate(paths):
        data = copy.deepcopy(doc.data)
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = REPLACEMENTS[n % len(REPLACEMENTS)]
        text = yaml.safe_dump(data, sort_keys=False)
        target.write_text(text)
        check = check_spec(target)  # must not raise
        lines = text.count("\n") + 1
        assert all(1 <= p.line <= lines for p in check.problems if p.file == str(target)), path
        errors_seen += bool(check.errors)
    assert len(paths) >= 80 and errors_seen > len(paths) // 2
