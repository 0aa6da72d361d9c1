"""Job events become Prometheus samples."""

from __future__ import annotations

from prometheus_client import generate_latest

from uno.jobs import JobSystem, Settings, Status
from uno.jobs.events import EventKind, JobEvent
from uno.jobs.limits import Limits
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


def _enqueued(system: JobSystem, task: str, queue: str, times: int = 1) -> None:
    for _ in range(times):
        system.events.publish(JobEvent(EventKind.ENQUEUED, "j", task, queue, Status.PENDING))


def test_queue_labels_are_the_busiest_queues_and_other() -> None:
    limits = Limits(max_metric_queues=5)
    system = JobSystem(database_url="sqlite:///unused.db", settings=Settings(limits=limits))
    metrics = observe(system)
    for i in range(5000):
        _enqueued(system, "add", f"spam-{i}")
    for i in range(5):  # busy queues that come after the flood still get their label
        _enqueued(system, "add", f"busy-{i}", times=200 + i)
    _enqueued(system, "add", "default")  # defined queues always keep their label
    rendered = generate_latest(metrics.registry).decode()
    assert len(rendered) < 20_000
    sample = metrics.registry.get_sample_value
    for i in range(5):
        assert sample("uno_jobs_enqueued_total", {"task": "add", "queue": f"busy-{i}"}) == 200 + i
    assert sample("uno_jobs_enqueued_total", {"task": "add", "queue": "default"}) == 1
    assert sample("uno_jobs_enqueued_total", {"task": "add", "queue": "other"}) == 5000
    assert "spam-" not in rendered


def test_unregistered_task_names_are_bounded_and_registered_ones_kept() -> None:
    limits = Limits(max_metric_tasks=3)
    system = JobSystem(database_url="sqlite:///unused.db", settings=Settings(limits=limits))

    @system.task
    def known() -> None: ...

    metrics = observe(system)
    _enqueued(system, "known", "default")
    for i in range(100):
        _enqueued(system, f"stranger-{i}", "default")
    for i in range(100, 103):
        _enqueued(system, f"stranger-{i}", "default", times=50)
    sample = metrics.registry.get_sample_value
    assert sample("uno_jobs_enqueued_total", {"task": "known", "queue": "default"}) == 1
    for i in range(100, 103):
        assert (
            sample("uno_jobs_enqueued_total", {"task": f"stranger-{i}", "queue": "default"}) == 50
        )
    assert sample("uno_jobs_enqueued_total", {"task": "other", "queue": "default"}) == 100


def test_histograms_sum_under_other_and_stay_cumulative() -> None:
    system = JobSystem(
        database_url="sqlite:///unused.db", settings=Settings(limits=Limits(max_metric_queues=1))
    )
    metrics = observe(system)
    for queue, duration in (("a", 0.002), ("b", 0.2), ("b", 20.0), ("c", 700.0)):
        system.events.publish(
            JobEvent(EventKind.SUCCEEDED, "j", "t", queue, Status.COMPLETED, duration=duration)
        )
    sample = metrics.registry.get_sample_value
    busiest = {"task": "t", "queue": "b"}
    assert sample("uno_jobs_run_seconds_count", busiest) == 2
    assert sample("uno_jobs_run_seconds_bucket", {**busiest, "le": "0.5"}) == 1
    assert sample("uno_jobs_run_seconds_bucket", {**busiest, "le": "30.0"}) == 2
    other = {"task": "t", "queue": "other"}
    assert sample("uno_jobs_run_seconds_count", other) == 2
    assert sample("uno_jobs_run_seconds_bucket", {**other, "le": "0.005"}) == 1
    assert sample("uno_jobs_run_seconds_bucket", {**other, "le": "600.0"}) == 1
    assert sample("uno_jobs_run_seconds_bucket", {**other, "le": "+Inf"}) == 2
    assert sample("uno_jobs_run_seconds_sum", other) == 700.002
    assert sample("uno_jobs_attempts_total", {**other, "outcome": "succeeded"}) == 2
