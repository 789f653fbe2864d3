"""Results and machine output, through the CLI against the in-process sandbox (--sandbox):

- apply and destroy end with a Results block (gallery, ids and versions, counts, billed), and
  `output SPEC [NAME]` prints the same later from state alone (no token, no API request);
- `--json` on apply, destroy, import, refresh, show and output prints one document on stdout,
  valid against the packaged data/result.schema.json, with the plan and logs on stderr.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cli_helpers import REPO, run, write_spec

pytestmark = pytest.mark.timeout(180)

LUCY = REPO / "examples" / "lucy"


def result_schema() -> jsonschema.Draft202012Validator:
    schema = json.loads(resources.files("bria_pipeline").joinpath("data/result.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def valid(document: Any, command: str) -> dict[str, Any]:
    """`document` per the schema, and the document of `command`."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in result_schema().iter_errors(document)]
    assert not errors, errors
    assert document["command"] == command
    return document


def lucy(tmp_path: Path) -> Path:
    shutil.copytree(LUCY, tmp_path / "lucy", ignore=shutil.ignore_patterns(".bria", "outputs", "*.lock.yaml"))
    return tmp_path / "lucy" / "spec.yaml"


def block(stdout: str) -> dict[str, str]:
    """The Results block's rows, by their head (a model's row under "model lucy-lora")."""
    lines = stdout[stdout.index("Results:"):].splitlines()[1:]
    rows: dict[str, str] = {}
    for line in lines:
        head, _, text = line.strip().partition("  ")
        if head in ("model", "dataset"):
            key, _, text = text.strip().partition("  ")
            head = f"{head} {key}"
        rows[head] = text.strip()
    return rows


def test_apply_ends_with_the_results_and_output_prints_them_later_without_the_api(tmp_path: Path) -> None:
    spec = lucy(tmp_path)
    applied = run("--sandbox", "apply", str(spec), "--auto-approve")
    assert applied.exit_code == 0, applied.stderr
    rows = block(applied.stdout)
    shown = json.loads(run("--sandbox", "show", str(spec), "--json").stdout)  # the remote, listed now
    model = next(m for m in shown["models"] if m["current"])
    project = shown["project"]

    gallery = spec.parent / "outputs" / "index.html"
    assert gallery.is_file() and rows["gallery"] == str(gallery)
    assert rows["project"] == f"lucy-example  id {project['id']}"
    assert rows["model lucy-lora"] == f"id {model['id']}  version {model['name'].rsplit('-', 1)[1]}  ({model['name']})"
    assert rows["counts"] == "1 project, 1 dataset, 1 model, 9 images, 1 video"
    assert rows["billed"].startswith("this run: 1 training, 9 image generations, 2 structured-prompt calls, 1 video")

    # later, from state alone: no token and no --sandbox, so no request can leave
    later = run("output", str(spec))
    assert later.exit_code == 0, later.stderr
    again = block(later.stdout)
    assert {k: again[k] for k in ("gallery", "project", "model lucy-lora", "counts")} == \
        {k: rows[k] for k in ("gallery", "project", "model lucy-lora", "counts")}
    assert again["billed"] == "generation requests billed in all: 12"  # 9 images, 1 video, 2 structured-prompt calls

    assert run("output", str(spec), "model.lucy-lora.id").stdout == f"{model['id']}\n"
    assert run("output", str(spec.parent), "gallery.path").stdout == f"{gallery}\n"  # a folder with one spec
    assert json.loads(run("output", str(spec), "counts", "--json").stdout)["images"] == 9

    typo = run("output", str(spec), "model.lucy-lroa")
    assert typo.exit_code == 1 and typo.stdout == ""
    assert f"{spec} has no output named 'model.lucy-lroa'" in typo.stderr
    assert "did you mean model.lucy-lora" in typo.stderr

    # once a backend holds the outputs, the gallery is named by its URL there
    backend = tmp_path / "backend"
    assert run("state", "push", str(spec), "--backend", f"file://{backend}").exit_code == 0
    url = run("output", str(spec), "gallery.url", "--backend", f"file://{backend}").stdout.strip()
    assert url == f"file://{backend}/lucy/spec/outputs/index.html" and (backend / "lucy/spec/outputs/index.html").is_file()
    assert block(run("output", str(spec), "--backend", f"file://{backend}").stdout)["gallery"] == url


def test_every_json_document_is_one_document_valid_against_the_packaged_schema(tmp_path: Path) -> None:
    spec = lucy(tmp_path)
    applied = run("--sandbox", "apply", str(spec), "--auto-approve", "--json")
    assert applied.exit_code == 0, applied.stderr
    document = valid(json.loads(applied.stdout), "apply")  # the whole of stdout is the document
    assert "Plan: " in applied.stderr and "Results:" not in applied.stdout
    assert document["status"] == "ok" and document["billed"]["planned"]["trainings"] == 1
    model_id = document["results"]["models"]["lucy-lora"]["id"]
    project_id = document["results"]["project"]["id"]
    assert document["results"]["gallery"]["exists"] is True

    shown = valid(json.loads(run("--sandbox", "show", str(spec), "--json").stdout), "show")
    assert [m["id"] for m in shown["models"]] == [model_id]

    refreshed = valid(json.loads(run("--sandbox", "refresh", str(spec), "--json").stdout), "refresh")
    assert refreshed["project"] == {"name": "lucy-example", "id": project_id} and refreshed["models"] == 1

    imported = run("--sandbox", "import", str(spec), "model.lucy-lora", str(model_id), "--json")
    assert imported.exit_code == 0, imported.stderr
    assert valid(json.loads(imported.stdout), "import")["id"] == model_id

    output = valid(json.loads(run("output", str(spec), "--json").stdout), "output")
    assert output["results"] == {**document["results"]}

    destroyed = run("--sandbox", "destroy", str(spec), "--auto-approve", "--json")
    assert destroyed.exit_code == 0, destroyed.stderr
    gone = valid(json.loads(destroyed.stdout), "destroy")
    assert gone["status"] == "ok" and gone["plan"]["operation"] == "destroy"
    assert gone["results"]["project"]["id"] is None and gone["results"]["counts"]["models"] == 0
    assert valid(json.loads(run("--sandbox", "show", str(spec), "--json").stdout), "show")["project"] is None


def test_over_a_folder_json_is_one_list_of_documents(specs_dir: Path) -> None:
    for name in ("alpha", "beta"):
        write_spec(specs_dir / name, project=f"{name}-brand", images=5)
    applied = run("--sandbox", "apply", str(specs_dir), "--auto-approve", "--json")
    assert applied.exit_code == 0, applied.stderr
    documents = json.loads(applied.stdout)
    assert [valid(d, "apply")["spec"] for d in documents] == [str(specs_dir / n / "spec.yaml") for n in ("alpha", "beta")]
    shown = json.loads(run("--sandbox", "show", str(specs_dir), "--json").stdout)
    assert [valid(d, "show")["project"]["name"] for d in shown] == ["alpha-brand", "beta-brand"]
    outputs = json.loads(run("output", str(specs_dir), "--json").stdout)
    assert [valid(d, "output")["results"]["counts"]["datasets"] for d in outputs] == [1, 1]


def test_the_packaged_result_schema_is_the_repository_one() -> None:
    packaged = resources.files("bria_pipeline").joinpath("data/result.schema.json").read_text("utf-8")
    assert packaged == (REPO / "schemas" / "result.schema.json").read_text("utf-8")
    assert json.loads(packaged)["$defs"]["results"]["required"] == [
        "spec", "project", "gallery", "datasets", "models", "counts", "billed"]


def test_output_with_the_sandbox_leaves_the_specs_own_backend_alone(tmp_path: Path) -> None:
    """A spec whose `backend:` names a bucket (as the GitOps examples do): `--sandbox output` reads the
    sandbox's local state, as `--sandbox plan` does, and asks no store. The store's endpoint here is a
    closed port on 127.0.0.1, so a request to it would fail the command."""
    import socket

    spec = lucy(tmp_path)
    spec.write_text(spec.read_text("utf-8") + "\nbackend:\n  url: s3://team-bucket/bria\n", "utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {"AWS_ENDPOINT_URL": closed, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    assert run("--sandbox", "apply", str(spec), "--auto-approve", env=env).exit_code == 0
    result = run("--sandbox", "output", str(spec), "--json", env=env)
    assert result.exit_code == 0, result.output
    results = valid(json.loads(result.stdout), "output")["results"]
    assert results["counts"]["images"] > 0 and "team-bucket" not in result.stdout
