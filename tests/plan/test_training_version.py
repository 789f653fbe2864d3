"""A legacy (max, light) project or dataset of the spec is refused at plan time, before anything
is sent, naming it and the fix; fibo and unlocked ones plan as usual. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest
from plan_builders import converged, desired, pinned

from bria_pipeline.lockfile import Lock
from bria_pipeline.plan.errors import LegacyTrainingVersion
from bria_pipeline.plan.planner import plan, plan_destroy
from bria_pipeline.state.observed import Observed, ObservedDataset


def with_versions(observed: Observed, project: str | None, datasets: str | None = None) -> Observed:
    return replace(observed, project=replace(observed.project, training_version=project),
                   datasets=tuple(replace(ds, training_version=datasets) for ds in observed.datasets))


@pytest.mark.parametrize("version", ["max", "light", "MAX"])
def test_a_legacy_project_with_the_specs_name_is_refused_with_the_fix(version):
    d = desired()
    with pytest.raises(LegacyTrainingVersion) as info:
        plan(d, with_versions(converged(d), version), pinned(d))
    text = info.value.describe()
    assert f"project {d.project.name!r} (id 1) has training_version {version!r}, a legacy training version" in text
    assert "nothing was sent" in text
    assert "another project name" in text and f"bria-pipeline import {d.spec_path} project <ID>" in text


def test_a_legacy_dataset_of_the_spec_is_refused_even_in_an_unlocked_project():
    d = desired()
    observed = with_versions(converged(d), None, "max")
    with pytest.raises(LegacyTrainingVersion, match=r"dataset 'lucy-[0-9a-f]+' \(id 10\)"):
        plan(d, observed, pinned(d))


def test_an_unlocked_project_holding_a_legacy_dataset_of_someone_else_is_refused():
    d = desired()
    base = converged(d)
    foreign = ObservedDataset(id=99, name="hand-made", status="completed", training_version="max")
    with pytest.raises(LegacyTrainingVersion, match="holds dataset 'hand-made'"):
        plan(d, replace(base, datasets=base.datasets + (foreign,)), pinned(d))


@pytest.mark.parametrize("project, datasets", [("fibo", "fibo"), (None, None), ("fibo", None)])
def test_fibo_and_unlocked_projects_plan_as_usual(project, datasets):
    d = desired()
    assert not plan(d, with_versions(converged(d), project, datasets), pinned(d)).has_changes


def test_destroy_of_a_legacy_project_is_not_refused():
    d = desired()
    doomed = plan_destroy(d, with_versions(converged(d), "max", "max"), Lock())
    assert doomed.has_changes
