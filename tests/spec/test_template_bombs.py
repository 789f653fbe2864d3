"""Template bombs: every one refused through the real loader, with a clear error, in bounded memory.

The bombs run in a child process whose address space is capped at 200 MB beyond what the
interpreter and its imports take: a bomb that allocates more ends in MemoryError and fails the
test (instead of taking the machine down). Time and peak memory are measured by
benchmarks/template_bombs.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bomb_catalogue import BOMBS, spec_text
from bria_pipeline.spec import check_spec, load_spec, template_limits
from spec_helpers import Project

HEADROOM = 200 * 1024**2  # what the bombs may allocate beyond the interpreter and its imports
CHILD = """
import json, resource, sys
from bria_pipeline.spec import check_spec
size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[1]), size + int(sys.argv[1])))
print(json.dumps({spec: [p.render() for p in check_spec(spec).errors] for spec in sys.argv[2:]}))
"""


def test_every_template_bomb_is_refused_with_a_clear_error_in_bounded_memory(tmp_path: Path) -> None:
    specs = {}
    for i, (name, (template, _)) in enumerate(BOMBS.items()):
        spec = tmp_path / f"bomb{i}" / "spec.yaml"
        spec.parent.mkdir()
        spec.write_text(spec_text(template))
        specs[name] = spec
    done = subprocess.run([sys.executable, "-c", CHILD, str(HEADROOM), *map(str, specs.values())],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    for name, (_, fragment) in BOMBS.items():
        errors = results[str(specs[name])]
        assert len(errors) == 1, (name, errors)  # not "ran out of memory": the address space is capped
        assert errors[0].startswith(f"{specs[name]}:"), (name, errors[0])  # file:line:col first
        assert "project.description: template refused: " in errors[0] and fragment in errors[0], (name, errors[0])
        assert "\n  hint: " in errors[0], (name, errors[0])


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


def test_a_spec_wide_bound_is_reported_once_and_stops_the_other_values(project: Project,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_limits, "MAX_SPEC_SECONDS", 0.0)
    spec = project.spec(vars="vars:\n  who: Lucy\n", project="""\
        project:
          name: "{{ who }}-a"
          description: "{{ who }}-b"
          ip_type: other
          ip_name: "{{ who }}-c"
          ip_medium: photography
        """)
    (error,) = check_spec(spec).errors
    assert "rendering took more than 0 s for all the values of this spec together" in error.message


def test_large_variables_are_weighed_once_not_at_every_use(project: Project) -> None:
    tags = ", ".join(f"tag{i}" for i in range(5000))
    spec = project.spec(vars=f"vars:\n  tags: [{tags}]\n", project="""\
        project:
          name: "{{ tags|length }}-{{ tags[0] }}-{{ tags|first }}-{{ tags|last }}"
          ip_type: other
          ip_medium: photography
        """)
    assert load_spec(spec).project.name == "5000-tag0-tag0-tag4999"


def test_a_var_option_does_not_parse_more_template_code_than_rendering_allows(project: Project) -> None:
    template, fragment = BOMBS["12000 lines of template code"]
    spec = project.write(spec_text(template))
    messages = [p.message for p in check_spec(spec, vars={"x": 2}).errors]
    assert len(messages) == 1 and fragment in messages[0]
