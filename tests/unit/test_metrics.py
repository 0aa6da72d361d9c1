"""Job events become Prometheus samples."""

from __future__ import annotations

from uno.jobs import JobSystem, Status
from uno.jobs.events import EventKind, JobEvent
from uno.jobs.metrics import observe


def test_events_are_counted_per_task_queue_and_outcome() -> None:
    system = JobSystem(database_url="sqlite:///unused.db")
    metrics = observe(system)
    assert observe(system) is metrics
    system.events.publish(JobEvent(EventKind.ENQUEUED, "j1", "add", "default", Status.PENDING))
    system.events.publish(
        JobEvent(EventKind.STARTED, "j1", "add", "default", Status.RUNNING, wait_time=0.2)
    )
    system.events.publish(
        JobEvent(EventKind.SUCCEEDED, "j1", "add", "default", Status.COMPLETED, duration=0.01)
    )
    system.events.publish(
        JobEvent(EventKind.FAILED, "j2", "add", "default", Status.RETRYING, duration=0.5)
    )
    sample = metrics.registry.get_sample_value
    assert sample("uno_jobs_enqueued_total", {"task": "add", "queue": "default"}) == 1
    labels = {"task": "add", "queue": "default"}
    assert sample("uno_jobs_attempts_total", {**labels, "outcome": "succeeded"}) == 1
    assert sample("uno_jobs_attempts_total", {**labels, "outcome": "retrying"}) == 1
    assert sample("uno_jobs_run_seconds_count", labels) == 2
    assert sample("uno_jobs_wait_seconds_sum", labels) == 0.2
