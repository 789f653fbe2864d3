"""What stands between a client and the API: the token, organizations, request accounting,
and the fault plan (latency, 5xx, rate limit, quota, responses lost after commit)."""

from __future__ import annotations

import time

import httpx
import pytest
from sandbox_api import OTHER_TOKEN, TG, Api

from bria_pipeline.sandbox import FaultPlan, FaultPlanError

PROJECT = {"project_name": "p", "ip_type": "other", "ip_medium": "photography"}


def test_requests_without_api_token_are_401_in_each_api_style(api: Api) -> None:
    v1 = api.get(f"{TG}/projects", token=None)
    v2 = api.get("/v2/status/abc", token=None)
    empty = api.get(f"{TG}/projects", token="")
    assert (v1.status_code, v2.status_code, empty.status_code) == (401, 401, 401)
    assert "api_token" in v1.json()["message"]
    assert v2.json()["error"]["code"] == 401


def test_each_token_is_an_organization_that_sees_only_its_own_resources(api: Api) -> None:
    project, dataset = api.completed_dataset()
    model = api.post(f"{TG}/models", json={"name": "m", "dataset_id": dataset["id"]}).json()
    other = api.as_token(OTHER_TOKEN)
    assert other.get(f"{TG}/projects").json() == []
    assert other.get(f"{TG}/datasets").json() == []
    assert other.get(f"{TG}/models").json() == []
    for url in (f"{TG}/projects/{project['id']}", f"{TG}/datasets/{dataset['id']}", f"{TG}/models/{model['id']}",
                f"{TG}/datasets/{dataset['id']}/images", f"{TG}/projects/{project['id']}/models"):
        assert other.get(url).status_code == 404, url
    assert other.delete(f"{TG}/projects/{project['id']}").status_code == 404
    assert other.post(f"{TG}/datasets", json={"project_id": project["id"], "name": "x"}).status_code == 404
    assert other.post(f"{TG}/models", json={"name": "x", "dataset_id": dataset["id"]}).status_code == 404
    assert len(api.get(f"{TG}/projects").json()) == 1


def test_stats_count_requests_by_method_and_route_template(api: Api) -> None:
    project = api.project()
    api.get(f"{TG}/projects/{project['id']}")
    api.get(f"{TG}/projects/{project['id'] + 1}")
    api.get(f"{TG}/projects", token=None)
    api.get("/_sandbox/health")
    stats = api.get("/_sandbox/stats").json()
    assert stats["routes"] == {"POST /v1/tailored-gen/projects": 1, "GET /v1/tailored-gen/projects/{project_id}": 2,
                               "GET /v1/tailored-gen/projects": 1}
    assert (stats["total"], stats["mutating"], stats["reading"]) == (4, 1, 3)
    assert stats["statuses"] == {"200": 1, "201": 1, "401": 1, "404": 1}


def test_reset_clears_stats_and_optionally_all_data(api: Api) -> None:
    api.project()
    assert api.post("/_sandbox/reset").json() == {"stats": "reset", "data": "kept"}
    assert api.get("/_sandbox/stats").json()["total"] == 0
    assert len(api.get(f"{TG}/projects").json()) == 1
    api.post("/_sandbox/reset", json={"data": True})
    assert api.get(f"{TG}/projects").json() == []


def test_rate_limit_is_per_token_and_endpoint_with_retry_after(faulty) -> None:
    api = faulty(FaultPlan(rate_limit_per_minute=3))
    for _ in range(3):
        assert api.get(f"{TG}/projects").status_code == 200
    limited = api.get(f"{TG}/projects")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    assert api.get(f"{TG}/datasets").status_code == 200  # another endpoint
    assert api.as_token(OTHER_TOKEN).get(f"{TG}/projects").status_code == 200  # another organization
    api.advance(30)
    assert api.get(f"{TG}/projects").headers["Retry-After"] == "30"
    api.advance(30)
    assert api.get(f"{TG}/projects").status_code == 200


def test_status_polls_count_against_the_rate_limit(faulty) -> None:
    api = faulty(FaultPlan(rate_limit_per_minute=2))
    assert [api.get(f"/v2/status/r{i}").status_code for i in range(3)] == [404, 404, 429]
    assert api.get("/v2/status/r9").json()["error"]["code"] == 429


def test_quota_answers_403_quota_exceeded_after_the_total(faulty) -> None:
    api = faulty(FaultPlan(quota=3))
    assert [api.get(f"{TG}/projects").status_code for _ in range(3)] == [200, 200, 200]
    over = api.post(f"{TG}/projects", json=PROJECT)
    assert over.status_code == 403
    assert over.json().startswith("Quota exceeded")
    assert api.as_token(OTHER_TOKEN).get(f"{TG}/projects").status_code == 200
    assert api.get("/_sandbox/stats").status_code == 200  # admin routes are never limited
    assert api.as_token(OTHER_TOKEN).get(f"{TG}/projects").json() == []  # nothing was created


def _error_pattern(faulty, seed: int) -> list[int]:
    api = faulty(FaultPlan(seed=seed, error_rate=0.3))
    return [api.get(f"{TG}/projects").status_code for _ in range(40)]


def test_injected_errors_are_deterministic_under_the_seed(faulty) -> None:
    first, again, other = _error_pattern(faulty, 7), _error_pattern(faulty, 7), _error_pattern(faulty, 8)
    assert first == again
    assert first != other
    assert set(first) == {200, 500} and 4 <= first.count(500) <= 20


def test_injected_errors_happen_before_any_change(faulty) -> None:
    api = faulty(FaultPlan(seed=1, error_rate=0.5))
    answers = [api.post(f"{TG}/projects", json=PROJECT).status_code for _ in range(20)]
    api.post("/_sandbox/faults", json={})
    assert len(api.get(f"{TG}/projects").json()) == answers.count(201)
    assert 500 in answers


def test_lost_response_after_commit_raises_a_transport_error_in_process(faulty) -> None:
    api = faulty(FaultPlan(lose_response_rate=1.0, lose_response_routes=["POST /v1/tailored-gen/projects"]))
    with pytest.raises(httpx.TransportError):
        api.post(f"{TG}/projects", json=PROJECT)
    assert [p["project_name"] for p in api.get(f"{TG}/projects").json()] == ["p"]  # committed, and reads still answer


def test_lost_response_in_502_mode_answers_502_after_commit(faulty) -> None:
    api = faulty(FaultPlan(lose_response_rate=1.0, lose_mode="502"))
    lost = api.post(f"{TG}/projects", json=PROJECT)
    assert lost.status_code == 502
    assert len(api.get(f"{TG}/projects").json()) == 1


def test_lose_response_routes_accept_a_bare_path_template(faulty) -> None:
    api = faulty(FaultPlan(lose_response_rate=1.0, lose_mode="502", lose_response_routes=["/v1/tailored-gen/datasets"]))
    assert api.post(f"{TG}/projects", json=PROJECT).status_code == 201
    project_id = api.get(f"{TG}/projects").json()[0]["id"]
    assert api.post(f"{TG}/datasets", json={"project_id": project_id, "name": "d"}).status_code == 502
    assert len(api.get(f"{TG}/datasets").json()) == 1


def test_fault_plan_can_be_read_and_replaced_at_runtime(api: Api) -> None:
    assert api.get("/_sandbox/faults").json() == FaultPlan().to_json()
    replaced = api.post("/_sandbox/faults", json={"quota": 1, "seed": 3})
    assert replaced.status_code == 200 and replaced.json()["quota"] == 1
    assert api.get(f"{TG}/projects").status_code == 200
    assert api.get(f"{TG}/projects").status_code == 403
    assert api.post("/_sandbox/faults", json={"error_rate": 2}).status_code == 400
    assert api.post("/_sandbox/faults", json={"typo_rate": 0.1}).status_code == 400
    api.post("/_sandbox/faults", json={})
    assert api.get(f"{TG}/projects").status_code == 200


def test_latency_is_added_to_api_requests_only(faulty) -> None:
    api = faulty(FaultPlan(latency_ms=60))
    started = time.perf_counter()
    api.get(f"{TG}/projects")
    assert time.perf_counter() - started >= 0.06
    started = time.perf_counter()
    api.get("/_sandbox/stats")
    assert time.perf_counter() - started < 0.06


def test_fault_plan_rejects_bad_values() -> None:
    with pytest.raises(FaultPlanError):
        FaultPlan(lose_mode="explode")
    with pytest.raises(FaultPlanError):
        FaultPlan.from_json({"error_rate": -0.1})


def test_generation_error_rate_makes_jobs_end_in_error(faulty) -> None:
    api = faulty(FaultPlan())
    model = api.trained_model()
    api.post("/_sandbox/faults", json={"generation_error_rate": 1.0})
    submitted = api.post("/v2/image/generate/tailored", json={"tailored_model_id": str(model["id"]), "prompt": "x"})
    api.advance(1)
    assert api.get(f"/v2/status/{submitted.json()['request_id']}").json()["status"] == "ERROR"
    sync = api.post("/v2/image/generate/tailored", json={"tailored_model_id": str(model["id"]), "prompt": "x",
                                                         "sync": True})
    assert sync.status_code == 500 and sync.json()["error"]["code"] == 500


def test_clock_advance_is_refused_for_a_wall_clock() -> None:
    from bria_pipeline.sandbox import create_app

    app = create_app()
    client = Api(app)
    try:
        assert client.post("/_sandbox/clock/advance", json={"seconds": 1}).status_code == 409
        assert client.get("/_sandbox/clock").json()["clock"].startswith("ScaledClock")
    finally:
        client.close()
        app.state.sandbox.close()
