"""Models and training: the state machine, defaults, expert-only parameters, checkpoints
appearing as emulated time passes, stopping, failing, and what training forbids."""

from __future__ import annotations

import pytest
from sandbox_api import TG, Api


@pytest.fixture
def completed(api: Api) -> tuple[dict, dict]:
    return api.completed_dataset()


def _model(api: Api, dataset_id: int, mode: str = "expert", name: str = "lucy-lora") -> dict:
    response = api.post(f"{TG}/models", json={"name": name, "dataset_id": dataset_id, "training_mode": mode})
    assert response.status_code == 201, response.text
    return response.json()


def _status(api: Api, model_id: int) -> str:
    return api.get(f"{TG}/models/{model_id}").json()["status"]


def test_model_is_created_in_project_of_its_dataset(api: Api, completed) -> None:
    project, dataset = completed
    model = _model(api, dataset["id"], mode="fully_automated")
    assert (model["status"], model["project_id"], model["dataset_id"]) == ("Created", project["id"], dataset["id"])
    assert model["training_parameters"] == {} and model["checkpoint_steps"] == []
    assert model["active_model_version"] == "default"


def test_create_model_validation(api: Api, completed) -> None:
    _, dataset = completed
    assert api.post(f"{TG}/models", json={"name": "x", "dataset_id": 123456}).status_code == 404
    assert api.post(f"{TG}/models", json={"dataset_id": dataset["id"]}).status_code == 400
    assert api.post(f"{TG}/models", json={"name": "x", "dataset_id": dataset["id"], "training_mode": "pro"}).status_code == 400


def test_expert_defaults_are_the_documented_ones(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    started = api.post(f"{TG}/models/{model['id']}/start_training", json={})
    assert started.status_code == 200
    assert started.json()["status"] == "InProgress"
    assert started.json()["training_parameters"] == {
        "learning_rate": 0.0001, "lr_scheduler": "constant_with_warmup", "rank": 128,
        "total_training_steps": 750, "checkpoint_interval": 500, "lr_warmup_steps": 100}


def test_warmup_steps_are_null_unless_the_scheduler_uses_them(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    started = api.post(f"{TG}/models/{model['id']}/start_training", json={"lr_scheduler": "cosine", "rank": 64})
    params = started.json()["training_parameters"]
    assert params["lr_warmup_steps"] is None and params["rank"] == 64


def test_expert_parameters_are_refused_for_fully_automated_models(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"], mode="fully_automated")
    refused = api.post(f"{TG}/models/{model['id']}/start_training", json={"rank": 64})
    assert refused.status_code == 400 and "expert" in refused.json()["message"]
    assert _status(api, model["id"]) == "Created"
    assert api.post(f"{TG}/models/{model['id']}/start_training", json={}).status_code == 200


@pytest.mark.parametrize("field, value", [
    ("total_training_steps", 5001), ("total_training_steps", 0), ("rank", 3), ("rank", 257),
    ("learning_rate", 0.01), ("checkpoint_interval", 99), ("lr_warmup_steps", 1001), ("lr_scheduler", "step"),
    ("rank", "64"),
])
def test_out_of_range_parameters_answer_400_naming_the_field(api: Api, completed, field: str, value) -> None:
    model = _model(api, completed[1]["id"])
    refused = api.post(f"{TG}/models/{model['id']}/start_training", json={field: value})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field_name"] == field
    assert _status(api, model["id"]) == "Created"


def test_training_needs_a_completed_dataset(api: Api) -> None:
    draft = api.dataset(api.project()["id"])
    model = _model(api, draft["id"])
    refused = api.post(f"{TG}/models/{model['id']}/start_training", json={})
    assert refused.status_code == 412
    assert _status(api, model["id"]) == "Created"


def test_training_progresses_on_the_clock_with_checkpoints_every_interval(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    api.post(f"{TG}/models/{model['id']}/start_training",
             json={"total_training_steps": 1000, "checkpoint_interval": 200})
    seen = []
    for _ in range(5):
        api.advance(0.8)  # 3 s per 750 steps, so 4 s for 1000 steps: 200 steps per 0.8 s
        body = api.get(f"{TG}/models/{model['id']}").json()
        seen.append((body["status"], body["checkpoint_steps"]))
    assert seen[0] == ("InProgress", ["200"])
    assert seen[2] == ("InProgress", ["600", "400", "200"])
    assert seen[4] == ("Completed", ["1000", "800", "600", "400", "200"])
    final = api.get(f"{TG}/models/{model['id']}").json()
    assert final["active_model_version"] == "1000"


def test_nothing_moves_while_the_manual_clock_stands_still(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    for _ in range(3):
        assert api.get(f"{TG}/models/{model['id']}").json()["checkpoint_steps"] == []
    assert _status(api, model["id"]) == "InProgress"


def test_final_step_is_a_checkpoint_when_not_a_multiple_of_the_interval(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    api.advance(3)
    body = api.get(f"{TG}/models/{model['id']}").json()
    assert body["checkpoint_steps"] == ["750", "500"]


def test_starting_twice_is_409(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    assert api.post(f"{TG}/models/{model['id']}/start_training", json={}).status_code == 409
    api.advance(5)
    assert api.post(f"{TG}/models/{model['id']}/start_training", json={}).status_code == 409


def test_stopping_goes_through_stopping_to_stopped_and_is_final(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    assert api.post(f"{TG}/models/{model['id']}/stop_training").status_code == 409  # not training yet
    api.post(f"{TG}/models/{model['id']}/start_training", json={"total_training_steps": 1000,
                                                                 "checkpoint_interval": 200})
    api.advance(1.7)  # 425 of 1000 steps (4 s in all)
    stopping = api.post(f"{TG}/models/{model['id']}/stop_training")
    assert stopping.status_code == 200 and stopping.json()["status"] == "Stopping"
    assert api.post(f"{TG}/models/{model['id']}/stop_training").status_code == 409
    api.advance(1)
    body = api.get(f"{TG}/models/{model['id']}").json()
    assert body["status"] == "Stopped"
    assert body["checkpoint_steps"] == ["400", "200"]  # progress froze when the stop was asked
    api.advance(10)
    assert _status(api, model["id"]) == "Stopped"
    assert api.post(f"{TG}/models/{model['id']}/start_training", json={}).status_code == 409


def test_admin_route_makes_a_training_fail_and_failed_is_final(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    assert api.post(f"/_sandbox/models/{model['id']}/fail", token=None).status_code == 200
    api.advance(10)
    assert _status(api, model["id"]) == "Failed"
    assert api.post(f"{TG}/models/{model['id']}/start_training", json={}).status_code == 409
    assert api.post(f"{TG}/models/{model['id']}/stop_training").status_code == 409
    assert api.post(f"/_sandbox/models/{model['id']}/fail", token=None).status_code == 409
    assert api.delete(f"{TG}/models/{model['id']}").status_code == 204


def test_a_training_blocks_deleting_the_model_its_dataset_and_its_project(api: Api, completed) -> None:
    project, dataset = completed
    model = _model(api, dataset["id"])
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    assert api.delete(f"{TG}/models/{model['id']}").status_code == 409
    assert api.delete(f"{TG}/datasets/{dataset['id']}").status_code == 409
    assert api.delete(f"{TG}/projects/{project['id']}").status_code == 409
    api.post(f"{TG}/models/{model['id']}/stop_training")
    assert api.delete(f"{TG}/models/{model['id']}").status_code == 409  # still Stopping
    api.advance(1)
    assert api.delete(f"{TG}/projects/{project['id']}").status_code == 204
    assert api.get(f"{TG}/models/{model['id']}").status_code == 404
    assert api.get(f"{TG}/datasets/{dataset['id']}").status_code == 404


def test_update_model_changes_name_and_description_only(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    updated = api.put(f"{TG}/models/{model['id']}", json={"name": "renamed", "description": "d"}).json()
    assert (updated["name"], updated["description"]) == ("renamed", "d")
    assert api.put(f"{TG}/models/{model['id']}", json={"training_mode": "fully_automated"}).status_code == 400


def test_lists_include_training_parameters_only_on_request(api: Api, completed) -> None:
    project, dataset = completed
    model = _model(api, dataset["id"])
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    plain = api.get(f"{TG}/models").json()[0]
    assert "training_parameters" not in plain and "checkpoint_steps" not in plain
    full = api.get(f"{TG}/projects/{project['id']}/models", params={"include_training_parameters": "true"}).json()[0]
    assert full["training_parameters"]["rank"] == 128
    assert api.get(f"{TG}/models", params={"include_training_parameters": "maybe"}).status_code == 400


def test_checkpoints_are_listed_for_completed_expert_models_only(api: Api, completed) -> None:
    auto = _model(api, completed[1]["id"], mode="fully_automated", name="auto")
    api.post(f"{TG}/models/{auto['id']}/start_training", json={})
    expert = api.trained_model(params={"total_training_steps": 300, "checkpoint_interval": 100})
    api.advance(5)
    assert api.get(f"{TG}/models/{auto['id']}/checkpoints").status_code == 400
    listed = api.get(f"{TG}/models/{expert['id']}/checkpoints").json()
    assert [c["checkpoint_step"] for c in listed["checkpoints"]] == [100, 200, 300]
    assert listed["active_model_version"] == "300"
    one = api.get(f"{TG}/models/{expert['id']}/checkpoints/200").json()
    assert one["checkpoint_step"] == 200 and one["training_job_id"] == expert["id"]
    assert api.get(f"{TG}/models/{expert['id']}/checkpoints/250").status_code == 404
    assert api.delete(f"{TG}/models/{expert['id']}/checkpoints/300").status_code == 400
    assert api.delete(f"{TG}/models/{expert['id']}/checkpoints/100").status_code == 204
    assert api.get(f"{TG}/models/{expert['id']}").json()["checkpoint_steps"] == ["300", "200"]


def test_model_download_is_a_real_file_once_completed(api: Api, completed) -> None:
    model = _model(api, completed[1]["id"])
    assert api.get(f"{TG}/models/{model['id']}/download").status_code == 400
    api.post(f"{TG}/models/{model['id']}/start_training", json={})
    api.advance(5)
    body = api.get(f"{TG}/models/{model['id']}/download").json()
    assert body["base_model_name"] == "BRIA-FIBO"
    weights = api.get(body["download_url"], token=None)
    assert weights.status_code == 200 and b'"emulated": "true"' in weights.content


def test_uploaded_pretrained_model_is_completed_in_a_new_or_given_project(api: Api) -> None:
    created = api.post(f"{TG}/models/upload_model", json={
        "model_url": "https://example.invalid/lucy.safetensors", "model_name": "lucy-imported",
        "project_parameters": {"project_name": "imported", "ip_medium": "photography"}})
    assert created.status_code == 200
    body = created.json()
    assert body["status"] == "Completed" and body["name"] == "lucy-imported"
    assert api.get(f"{TG}/projects/{body['project_id']}").json()["ip_type"] == "other"
    assert api.post(f"{TG}/models/upload_model", json={"model_url": "https://x.invalid/m.safetensors"}).status_code == 400
    assert api.post(f"{TG}/models/upload_model", json={"model_url": "ftp://x/m.safetensors",
                                                       "project_id": body["project_id"]}).status_code == 422
