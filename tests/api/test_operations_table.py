"""The operation table matches the contract: every operation, its method and versioned path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bria_pipeline.api.operations import BY_OPERATION_ID, OPERATIONS

CONTRACT = Path(__file__).resolve().parents[2] / ".." / "shared" / "contract"
HTTP_METHODS = ("get", "post", "put", "delete", "patch")


def _contract_operations() -> dict[str, tuple[str, str]]:
    """operationId -> (METHOD, versioned path), the version taken from each operation's servers."""
    files = [CONTRACT / "tailored-generation.openapi.yml", CONTRACT / "status.openapi.yml"]
    if not all(f.is_file() for f in files):
        pytest.skip("the API contract (../shared/contract) is not available")
    found: dict[str, tuple[str, str]] = {}
    for file in files:
        doc = yaml.safe_load(file.read_text())
        # the tailored-generation file also has a few path items at its top level, outside `paths`
        stray = {key: value for key, value in doc.items() if key.startswith("/")}
        for path, item in [*stray.items(), *doc["paths"].items()]:
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                server = (op.get("servers") or doc["servers"])[0]["url"].rstrip("/")
                version = "/" + server.rsplit("/", 1)[-1]
                found[op["operationId"]] = (method.upper(), version + path)
    return found


def test_every_contract_operation_has_one_row_with_its_method_and_versioned_path():
    contract = _contract_operations()
    assert set(contract) == set(BY_OPERATION_ID)
    for operation_id, (method, path) in contract.items():
        op = BY_OPERATION_ID[operation_id]
        assert (op.method, op.path) == (method, path), operation_id


def test_management_operations_live_under_v1_and_generation_and_status_under_v2():
    for op in OPERATIONS:
        expected = "v2" if op.name in ("generate_image", "generate_structured_prompt", "generate_video",
                                       "get_status") else "v1"
        assert op.version == expected, op.name


def test_every_non_idempotent_post_that_creates_or_bills_can_be_read_back_unless_it_is_a_generation():
    generations = {"generate_image", "generate_structured_prompt", "generate_video"}
    for op in OPERATIONS:
        if op.method == "POST" and not op.idempotent and op.name not in generations:
            assert op.readback, f"{op.name} creates or bills but has no read-back"
        if op.name in generations:
            assert op.bills and not op.idempotent and op.readback is None


def test_reads_updates_and_deletes_are_idempotent_and_creating_posts_are_not():
    for op in OPERATIONS:
        if op.method in ("GET", "PUT", "DELETE"):
            assert op.idempotent, op.name
        if op.creates:
            assert op.method == "POST" and not op.idempotent, op.name


def test_path_parameters_are_quoted_so_an_id_cannot_escape_its_segment():
    op = BY_OPERATION_ID["get-dataset-by-id"]
    assert op.render({"dataset_id": "1/../../projects"}) == "/v1/tailored-gen/datasets/1%2F..%2F..%2Fprojects"
