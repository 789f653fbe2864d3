"""Inputs that used to say nothing (or too much) say one true thing, where the cause is: an
unknown --var, a glob naming no file, a wrong generate.model, a misspelt file name, an unclosed
YAML bracket. Nothing is sent to the service while the spec is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bria_pipeline.spec.loader import check_spec
from bria_pipeline.spec.problems import SpecErrors

pytestmark = pytest.mark.timeout(60)


def _errors(spec: Path, **kw) -> list[tuple[int, str, str, str | None]]:
    return [(p.line, p.path, p.message, p.hint) for p in check_spec(spec, **kw).errors]


def _line(spec: Path, text: str) -> int:
    return next(n for n, line in enumerate(spec.read_text(encoding="utf-8").splitlines(), start=1) if text in line)


def test_an_unknown_var_is_an_error_with_did_you_mean_and_nothing_is_sent(team):
    team.edit("rank: 32", 'rank: "{{ rank }}"')
    team.edit("  character: Lucy\n", "  character: Lucy\n  rank: 32\n")
    assert _errors(team.spec, vars={"rnak": 64}) == [
        (1, "rnak", "the spec has no variable 'rnak' to set",
         "did you mean 'rank'? variables of this spec: character, place, rank, time"),
    ]
    assert _errors(team.spec, vars={"rank": 32}) == []
    before = team.stats()
    with pytest.raises(SpecErrors, match="the spec has no variable 'rnak' to set"):
        team.pipeline(vars={"rnak": 64}).plan()
    assert team.sent(before, team.stats()) == {}


def test_a_glob_naming_no_file_is_one_error_at_the_glob(team):
    team.edit("- path: images/pose-*.png", "- path: images/poses-*.png")
    assert _errors(team.spec) == [(
        _line(team.spec, "images/poses-*.png"), "datasets.lucy.images[0].path", "no file matches 'images/poses-*.png'",
        f"globs are relative to the spec's directory ({team.dir}); check the folder name and the extension's case",
    )]


def test_a_wrong_generate_model_is_one_error_not_one_about_the_video_too(team):
    team.edit("  model: lucy-lora\n  output_dir", "  model: lucy-lroa\n  output_dir")
    assert _errors(team.spec) == [
        (_line(team.spec, "model: lucy-lroa"), "generate.model", "no model named 'lucy-lroa'", "did you mean 'lucy-lora'?"),
    ]


def test_did_you_mean_prefers_the_closest_stem(team):
    images = team.dir / "images"
    for n in (2, 4):
        (images / f"pose-0{n}.png").rename(images / f"pose-2{n}.png")
    (images / "pose-06.png").rename(images / "pose-4.png")
    errors = _errors(team.spec)
    assert [(path, message, hint) for _, path, message, hint in errors if "captions" in path] == [
        ('datasets.lucy.captions["images/pose-02.png"]', "no image 'images/pose-02.png' in this dataset",
         "did you mean 'images/pose-01.png'? caption keys are image paths relative to the spec, or URLs"),
        ('datasets.lucy.captions["images/pose-04.png"]', "no image 'images/pose-04.png' in this dataset",
         "did you mean 'images/pose-4.png'? caption keys are image paths relative to the spec, or URLs"),
    ]


def test_an_unclosed_flow_names_the_line_where_it_opens(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nproject:\n  name: [oops\n  ip_type: other\n  ip_medium: photography\n", encoding="utf-8")
    assert _errors(spec) == [(
        4, "(file)",
        "invalid YAML: while parsing a flow sequence: did not find expected ',' or ']' "
        "(the flow sequence opens at line 3, column 9)",
        "close it on line 3 (a missing ']', '}' or quote), or quote the whole value",
    )]
