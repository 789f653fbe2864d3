"""Intents written before a creating request are resolved by reading, never by sending again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
import pytest
from apply_helpers import console, remote_snapshot

from bria_pipeline.api.client import AsyncBriaClient
from bria_pipeline.lockfile import Lock
from bria_pipeline.spec import load_spec
from bria_pipeline.state.observe import observe
from bria_pipeline.state.store import StateStore, state_dir_for

pytestmark = pytest.mark.timeout(60)


def test_an_intent_whose_request_took_effect_is_adopted_by_name(spec_dir, make_pipeline, sandbox_app):
    spec = spec_dir.write(models=False)
    desired = load_spec(spec)
    name = desired.datasets["lucy"].remote_name

    async def made_before_the_crash(client):
        project = await client.create_project("lucy-test", ip_medium="illustration", ip_type="defined_character",
                                              ip_name="Lucy", ip_description="a girl with purple hair",
                                              project_description="Lucy, the test mascot")
        dataset = await client.create_dataset(project.id, name)
        return project.id, dataset.id

    project_id, dataset_id = console(sandbox_app, made_before_the_crash)
    store = StateStore.for_spec(spec)
    store.begin("create_dataset", kind="dataset", name=name, address="dataset.lucy", key="lucy", parent_id=project_id)
    store.begin("create_dataset", kind="dataset", name="lucy-00000000", address="dataset.lucy", key="lucy", parent_id=project_id)
    store.intents[-1] = replace(store.intents[-1], started_at="2020-01-01T00:00:00+00:00")  # long ago
    store.save()

    async def look():
        async with AsyncBriaClient(transport=httpx.ASGITransport(app=sandbox_app), sandbox=True) as client:
            return await observe(client, desired, store, lock=Lock())

    observed = asyncio.run(look())
    assert [d.id for d in observed.datasets] == [dataset_id]
    assert ("dataset", dataset_id, name) in [(r.kind, r.id, r.name) for r in store.records]
    assert store.intents == []  # one adopted, the other (old, nothing found) never took effect

    result = make_pipeline().apply(auto_approve=True)
    assert result.ok
    assert [d["name"] for d in remote_snapshot(sandbox_app)["datasets"]] == [name]  # carried on, not made again
    state = json.loads((state_dir_for(spec) / "state.json").read_text())
    assert state["intents"] == [] and state["last_apply"]["status"] == "ok"
