"""Waiting on long jobs: backing-off intervals, timeouts, progress, and failures carrying request_id."""

from __future__ import annotations

import pytest

from bria_pipeline.api import AsyncJob, JobFailed, TrainingParameters, WaitTimeout

from against_sandbox import make_dataset_with_images, make_project

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class RecordingClock:
    """Wraps the test's DrivenClock and remembers every pause the client takes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.inner.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await self.inner.sleep(seconds)


async def _trainable_model(client, mode: str = "expert"):
    project = await make_project(client)
    dataset = await make_dataset_with_images(client, project.id, n=5)
    await client.update_dataset(dataset.id, status="completed")
    return await client.create_model("lucy-lora", dataset.id, training_mode=mode)


async def test_training_wait_backs_off_reports_steps_and_returns_the_completed_model(make_client, manual_clock):
    from against_sandbox import DrivenClock

    clock = RecordingClock(DrivenClock(manual_clock))
    client = make_client(clock=clock)
    model = await _trainable_model(client)
    await client.start_training(model.id, TrainingParameters(total_training_steps=300, checkpoint_interval=100))
    progress: list[tuple] = []
    done = await client.wait_for_training(model.id, interval=0.2, max_interval=0.9,
                                          on_progress=lambda *p: progress.append(p), timeout=60)
    assert done.status == "Completed" and sorted(done.checkpoint_steps) == [100, 200, 300]
    assert clock.pauses == sorted(clock.pauses) and max(clock.pauses) <= 0.9 and clock.pauses[0] == 0.2
    assert len(set(clock.pauses)) > 2, "the interval grows"
    assert progress[-1] == (300, 300, "training Completed")
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)


async def test_a_wait_gives_up_with_wait_timeout_when_the_job_outlasts_it(client):
    model = await _trainable_model(client)
    await client.start_training(model.id)
    with pytest.raises(WaitTimeout) as info:
        await client.wait_for_training(model.id, interval=0.25, timeout=1.0)
    assert info.value.last_status == "training InProgress"
    assert (await client.get_model(model.id)).status == "InProgress", "a timeout does not touch the job"


async def test_a_failed_training_raises_job_failed(client, admin):
    model = await _trainable_model(client)
    await client.start_training(model.id)
    (await admin.http.post(f"/_sandbox/models/{model.id}/fail")).raise_for_status()
    with pytest.raises(JobFailed) as info:
        await client.wait_for_training(model.id, interval=0.1, timeout=10)
    assert info.value.job_status == "Failed" and "cannot be resumed" in info.value.describe()


async def test_a_generation_ending_in_error_raises_job_failed_with_its_request_id(client, admin):
    model = await _trainable_model(client)
    await client.start_training(model.id)
    await client.wait_for_training(model.id, interval=1, timeout=60)
    job = await client.generate_image(model.id, prompt="Lucy", seed=1)
    assert isinstance(job, AsyncJob)
    (await admin.http.post(f"/_sandbox/requests/{job.request_id}/fail")).raise_for_status()
    with pytest.raises(JobFailed) as info:
        await client.wait_for_job(job, interval=0.05, timeout=10)
    assert info.value.request_id == job.request_id and info.value.job_status == "ERROR"
    assert job.request_id in info.value.describe()


async def test_a_job_polled_by_request_id_alone_uses_the_status_service(client, admin):
    model = await _trainable_model(client)
    await client.start_training(model.id)
    await client.wait_for_training(model.id, interval=1, timeout=60)
    await admin.faults(generation_error_rate=0.0)
    job = await client.generate_structured_prompt(model.id, prompt="Lucy reading")
    progress: list[tuple] = []
    result = await client.wait_for_job(job.request_id, interval=0.05, timeout=10,
                                       on_progress=lambda *p: progress.append(p))
    assert result.structured_prompt and progress[-1] == (1, 1, "COMPLETED")
    assert client.stats.by_operation["get_status"] == len(progress)
