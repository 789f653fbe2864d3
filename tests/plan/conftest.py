"""Fixtures of the plan tests: the generation builders shared with the other package folders."""

from __future__ import annotations

from outputs_fixtures import build, fast_world, still_world  # noqa: F401  (fixtures, found by name)
