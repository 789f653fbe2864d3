"""A state names the spec it was made for by its path in its repository: a copied folder is
another spec, a folder that became a repository is the same one."""

from __future__ import annotations

import pytest

from bria_pipeline.state.lineage import same_spec


@pytest.mark.parametrize("recorded, now, same", [
    ("lucy/spec.yaml", "lucy/spec.yaml", True),
    ("lucy/spec.yaml", "brands/lucy/spec.yaml", True),  # the folder went into a repository
    ("brands/lucy/spec.yaml", "lucy/spec.yaml", True),
    ("brands/lucy/spec.yaml", "brands/mira/spec.yaml", False),  # cp -r brands/lucy brands/mira
    ("lucy/spec.yaml", "mira/spec.yaml", False),
    ("a/spec.yaml", "ba/spec.yaml", False),
])
def test_a_state_knows_its_spec_by_its_path(recorded: str, now: str, same: bool):
    assert same_spec(recorded, now) is same
