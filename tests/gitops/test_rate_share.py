"""Many specs, one organisation: each apply paces itself at its share of the organisation's limit
(--rate-limit 60/min --share 1/4), and the example workflow runs at most as many applies at once
as the shares allow, so together they stay under the limit."""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import run, write_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
APPLY = REPO / "examples" / "gitops" / ".github" / "workflows" / "bria-apply.yml"
RATE = {"s": 60, "min": 1, "h": Fraction(1, 60)}


def per_minute(text: str) -> Fraction:
    number, unit = re.fullmatch(r"(\d+)/(s|min|h)", text).groups()
    return Fraction(number) * RATE[unit]


def test_the_apply_workflow_keeps_parallel_applies_under_the_organisations_limit() -> None:
    workflow = yaml.load(APPLY.read_text(), Loader=yaml.BaseLoader)
    limit = per_minute(workflow["env"]["BRIA_RATE_LIMIT"])
    parallel = int(workflow["jobs"]["apply"]["strategy"]["max-parallel"])
    commands = [line for job in workflow["jobs"].values() for step in job["steps"]
                for line in " ".join(step.get("run", "").split("\\\n")).splitlines()
                if re.search(r"bria-pipeline .*\b(apply|plan)\b", line)]
    assert len(commands) == 2  # the scheduled plans and the applies
    for command in commands:
        assert '--rate-limit "$BRIA_RATE_LIMIT"' in command, command
        share = Fraction(re.search(r"--share (\S+)", command).group(1))
        assert parallel * limit * share <= limit, (parallel, share)  # the sum of the paces
    assert parallel * limit * share == limit  # and no slower than it has to be


def test_share_divides_the_rate_the_plan_reckons_with(tmp_path: Path) -> None:
    spec = str(write_spec(tmp_path / "brand", project="shared", images=6))
    whole = run("--sandbox", "plan", spec, "--rate-limit", "60/min")
    quarter = run("--sandbox", "plan", spec, "--rate-limit", "60/min", "--share", "1/4")
    assert whole.exit_code == quarter.exit_code == 0
    assert "11 requests (11 s at 60/min)" in whole.stdout
    assert "11 requests (44 s at 15/min)" in quarter.stdout
    same = run("--sandbox", "plan", spec, "--share", "25%", env={"BRIA_PIPELINE_PLAN_RATE_LIMIT": "60/min"})
    assert "(44 s at 15/min)" in same.stdout


@pytest.mark.parametrize("args, message", [
    (["--share", "1/4"], "a share of what? give the organisation's limit too: --rate-limit 60/min --share 1/4"),
    (["--rate-limit", "60/min", "--share", "2"], "'2' is not a share between 0 and 1"),
    (["--rate-limit", "60/min", "--share", "a quarter"], "'a quarter' is not a share (examples: 1/4, 0.25, 25%)"),
])
def test_a_share_that_cannot_be_is_refused_before_anything_is_sent(tmp_path: Path, args: list[str], message: str) -> None:
    spec = str(write_spec(tmp_path / "brand", project="shared", images=6))
    refused = run("--sandbox", "apply", spec, "--auto-approve", *args)
    assert refused.exit_code == 1 and message in refused.stderr
    assert not (tmp_path / "brand" / ".bria").exists()  # nothing ran


def test_the_gitlab_apply_jobs_share_the_limit_between_them() -> None:
    gitlab = yaml.safe_load((REPO / "examples" / "gitops" / ".gitlab-ci.yml").read_text())
    limit = per_minute(gitlab["variables"]["BRIA_RATE_LIMIT"])
    share = Fraction(gitlab["variables"]["BRIA_RATE_SHARE"])
    jobs = [name for name, job in gitlab.items() if isinstance(job, dict) and job.get("extends") == ".apply"]
    assert len(jobs) * limit * share <= limit  # every apply job at once stays under the limit
    script = "\n".join(gitlab[".apply"]["script"])
    assert script.count('--rate-limit "$BRIA_RATE_LIMIT" --share "$BRIA_RATE_SHARE"') == 2  # plan and apply
