"""Plan output: Terraform-style text, JSON valid against schemas/plan.schema.json, markdown, saved plans."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from plan_builders import converged, dataset, desired, image, images, model, pinned, remote_dataset, remote_model, remote_project

from bria_pipeline.lockfile import Lock
from bria_pipeline.plan.document import check_fresh, plan_from_dict, plan_to_dict
from bria_pipeline.plan.errors import PlanFileError, StalePlanError
from bria_pipeline.plan.planner import plan, plan_destroy
from bria_pipeline.plan.render_markdown import render_markdown
from bria_pipeline.plan.render_text import render_text
from bria_pipeline.state.observed import Observed

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"


def _changed_plan():
    d0 = desired()
    done = remote_dataset(d0.datasets["lucy"], listed=True)
    d1 = desired(
        datasets=[dataset(imgs=images()[:5] + (image("images/pose-06.png", content="retouched"),))],
        models=[model(rank=128)],
    )
    observed = Observed(
        project=remote_project(d1),
        datasets=(done,),
        models=(remote_model(d0.models["lucy-lora"], d0.datasets["lucy"]),),
    )
    return plan(d1, observed, pinned(d1))


def _plans():
    d = desired()
    return [plan(d, Observed(), Lock()), _changed_plan(), plan(d, converged(d), pinned(d)), plan_destroy(d, converged(d), pinned(d))]


def test_text_output_shows_symbol_address_old_new_reason_and_summary():
    text = render_text(_changed_plan())
    assert "-/+ model.lucy-lora" in text
    assert "rank: 64 -> 128" in text
    assert "# training parameter rank 64 -> 128 cannot change after training" in text
    assert text.rstrip().endswith(
        "Plan: 2 to create, 1 to update, 2 to replace, 1 to delete. 1 to wait for. "
        "Cost: 1 training; 6 requests, status polls not counted."
    )
    assert "\x1b[" not in text
    assert "\x1b[" in render_text(_changed_plan(), color=True)


def test_text_output_folds_many_alike_steps():
    d = desired(datasets=[dataset(imgs=images(40))])
    text = render_text(plan(d, Observed(), Lock()))
    assert "dataset.lucy.image[...] and 37 more like these" in text
    assert text.count("dataset.lucy.image[images/") == 3


def test_no_change_plan_says_so():
    d = desired()
    text = render_text(plan(d, converged(d), pinned(d)))
    assert text.rstrip().endswith("No changes. The remote matches the spec.")


def test_json_output_validates_against_the_plan_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for p in _plans():
        document = json.loads(json.dumps(plan_to_dict(p)))
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, errors[0]
        assert document["summary"]["text"] == p.summary_line()


def test_schema_rejects_a_plan_with_an_unknown_kind():
    schema = json.loads(SCHEMA_PATH.read_text())
    document = plan_to_dict(_changed_plan())
    document["actions"][0]["kind"] = "mutate"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def test_markdown_has_the_summary_a_table_and_the_attribute_diff():
    md = render_markdown(_changed_plan())
    assert "**Plan: 2 to create, 1 to update, 2 to replace, 1 to delete. 1 to wait for. Cost: 1 training; 6 requests" in md
    assert "| 1 | 0 | 0 | 0 | 0 | 0 | 6 |" in md
    assert "| `-/+` | `model.lucy-lora` | replace |" in md
    assert "```diff" in md and "! model.lucy-lora: rank 64 -> 128" in md
    assert "**Needs approval:**" in md


def test_saved_plan_reads_back_identical():
    typed = set()
    for p in _plans():
        again = plan_from_dict(json.loads(json.dumps(plan_to_dict(p))))
        assert again == p
        assert [a.step for a in again.actions] == [a.step for a in p.actions]
        typed |= {type(a.step).__name__ for a in p.actions if a.step is not None}
    assert {"CreateModel", "StartTraining"} <= typed


def test_saved_plan_is_refused_when_spec_lock_or_remote_changed():
    p = _changed_plan()
    check_fresh(p, source_hash=p.source_hash, observed_hash=p.observed_hash, lock_hash=p.lock_hash)
    with pytest.raises(StalePlanError, match="the remote changed"):
        check_fresh(p, source_hash=p.source_hash, observed_hash="other", lock_hash=p.lock_hash)
    with pytest.raises(StalePlanError, match="the spec changed"):
        check_fresh(p, source_hash="other", observed_hash=p.observed_hash, lock_hash=p.lock_hash)
    with pytest.raises(StalePlanError, match="the lock file changed"):
        check_fresh(p, source_hash=p.source_hash, observed_hash=p.observed_hash, lock_hash="other")


def test_a_file_that_is_not_a_plan_is_refused_with_a_hint():
    with pytest.raises(PlanFileError, match="not a bria-pipeline plan") as info:
        plan_from_dict({"version": 1}, source="spec.yaml")
    assert "bria-pipeline plan SPEC --out plan.json" in info.value.describe()


def test_remote_fingerprint_changes_with_a_renamed_image_but_not_with_ordering():
    d = desired()
    observed = converged(d)
    from dataclasses import replace

    reordered = replace(observed, datasets=tuple(reversed(observed.datasets)))
    assert reordered.fingerprint() == observed.fingerprint()
    renamed = replace(observed, project=replace(observed.project, name="x"))
    assert renamed.fingerprint() != observed.fingerprint()
