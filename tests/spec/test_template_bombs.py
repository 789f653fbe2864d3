"""Template bombs: every one refused through the real loader, with a clear error, in bounded memory.

Each bomb runs in a child process whose address space is capped (a regression fails the test
instead of taking the machine down) and whose peak allocation is traced; timings are measured
by benchmarks/template_bombs.py, not here.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bomb_catalogue import BOMBS, spec_text
from bria_pipeline.spec import check_spec, load_spec, template_limits
from spec_helpers import Project

CAP = 2 * 1024**3  # address space of the child: the interpreter and its imports fit well below
CHILD = """
import json, sys, tracemalloc
from bria_pipeline.spec import check_spec
out = {}
for spec in sys.argv[1:]:
    tracemalloc.start()
    check = check_spec(spec)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out[spec] = {"errors": [p.render() for p in check.errors], "peak": peak}
print(json.dumps(out))
"""


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def test_every_template_bomb_is_refused_with_a_clear_error_in_bounded_memory(tmp_path: Path) -> None:
    specs = {}
    for i, (name, (template, _)) in enumerate(BOMBS.items()):
        spec = tmp_path / f"bomb{i}" / "spec.yaml"
        spec.parent.mkdir()
        spec.write_text(spec_text(template))
        specs[name] = spec
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, specs.values())], capture_output=True, text=True,
                          timeout=120, preexec_fn=_cap)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    for name, (_, fragment) in BOMBS.items():
        found = results[str(specs[name])]
        assert len(found["errors"]) == 1, (name, found["errors"])
        error = found["errors"][0]
        assert error.startswith(f"{specs[name]}:"), (name, error)  # file:line:col first
        assert "project.description: template refused: " in error and fragment in error, (name, error)
        assert "\n  hint: " in error, (name, error)
        assert found["peak"] < 200 * 1024**2, (name, found["peak"])


def test_the_error_points_at_the_line_where_the_value_grew_too_large(project: Project) -> None:
    template, _ = BOMBS["24 x {% set a = a ~ a %}"]
    spec = project.write(spec_text(template))
    (error,) = check_spec(spec).errors
    # the description's text starts on line 7; 26 characters doubled pass 65,536 at the 12th doubling
    assert (error.line, error.message) == (7 + 12, "template refused: '~' would exceed 65,536 characters "
                                                   "(or list items): it would build 106,496")


def test_rendering_time_is_bounded(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_limits, "MAX_SECONDS", 0.0)
    spec = project.write(spec_text('{% set a = "x" %}{{ a ~ a }}'))
    (error,) = check_spec(spec).errors
    assert "template refused: rendering took more than 0 s while rendering this value" in error.message


def test_templates_that_fill_in_values_keep_working(project: Project) -> None:
    spec = project.spec(vars="vars:\n  tags: [red, green, blue]\n  n: 7\n", project="""\
        project:
          name: "{{ tags|join('-') }}-{{ '%03d' % n }}-{{ (n * 6) ** 2 }}"
          description: "{{ ('ab' * 3)|replace('b', 'c') ~ '/' ~ tags|map('upper')|join(',') ~ '/' ~ [1, 2, 3]|sum }}"
          ip_type: other
          ip_medium: photography
        """)
    desired = load_spec(spec)
    assert desired.project.name == "red-green-blue-007-1764"
    assert desired.project.description == "acacac/RED,GREEN,BLUE/6"
