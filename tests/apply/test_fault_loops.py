"""The kill-anywhere and fault loops, bounded and seeded: a few rounds each against a served
sandbox (benchmarks/faults.py runs many). Every round must converge to the clean run's remote and
outputs, with no duplicate, nothing lost, and no billed work the manifest does not own up to."""

from __future__ import annotations

import random

import httpx
import pytest
from fault_loops import clean_run, fault_round, kill_round, problems, template

from bria_pipeline.sandbox import ScaledClock, create_app, running

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A served sandbox (its clock 20 times faster than wall time) and one clean run to compare with."""
    root = tmp_path_factory.mktemp("loops")
    app = create_app(root / "sandbox.sqlite", clock=ScaledClock(20.0), training_seconds=4.0)
    with running(app) as url, httpx.Client(timeout=10) as http:
        base = template(root / "template")
        clean = clean_run(base, root, url, http)
        yield root, base, url, http, clean
    app.state.sandbox.close()


def test_the_clean_run_trains_once_and_generates_two_images(world):
    *_, clean = world
    assert clean.billed == 3 and len(clean.outputs) == 2
    assert len(clean.snapshot["datasets"]) == len(clean.snapshot["models"]) == 1


def test_applies_under_5xx_lost_answers_and_429_converge_without_paying_unexplained_twice(world):
    root, base, url, http, clean = world
    before = http.get(f"{url}/_sandbox/stats").json()["statuses"]
    rounds = [fault_round(n, base, root, url, http, clean, seed=7) for n in range(2)]
    assert not problems(rounds), problems(rounds)
    after = http.get(f"{url}/_sandbox/stats").json()["statuses"]
    for status in ("500", "429", "201"):  # the faults did happen, and work was done
        assert after.get(status, 0) > before.get(status, 0), status
    assert all(r.billed - r.unknown_effect - r.paid_again <= clean.billed for r in rounds)


def test_an_apply_killed_at_a_random_instant_resumes_to_the_clean_result(world):
    root, base, url, http, clean = world
    rng = random.Random(15)
    # each kill lands at a random instant of the run: 0.1 s to a clean run's length after its first request
    rounds = [kill_round(n, base, root, url, http, clean, rng=rng, max_delay=max(0.2, clean.seconds),
                         from_first_request=True) for n in range(2)]
    assert not problems(rounds), problems(rounds)
    killed = [r for r in rounds if r.killed]
    assert killed and all(r.requests_at_kill for r in killed), [(r.kill_after, r.requests_at_kill) for r in rounds]
