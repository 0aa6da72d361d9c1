"""Prometheus metrics and log lines, fed by job events.

``observe(system)`` subscribes once; the API serves the registry at ``/metrics``.
Each JobSystem gets its own ``CollectorRegistry`` so several systems (or tests)
in one process never collide on metric names.
"""

from __future__ import annotations

import logging
import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram

from uno.jobs.events import EventKind, JobEvent
from uno.jobs.system import JobSystem

log = logging.getLogger("uno.jobs")

_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600)


class JobMetrics:
    """Counters and histograms of job outcomes, per task and queue."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.enqueued = Counter(
            "uno_jobs_enqueued", "Jobs enqueued", ["task", "queue"], registry=self.registry
        )
        self.finished = Counter(
            "uno_jobs_attempts",
            "Job attempts by outcome (succeeded, failed, retrying, timeout, cancelled)",
            ["task", "queue", "outcome"],
            registry=self.registry,
        )
        self.run_time = Histogram(
            "uno_jobs_run_seconds",
            "Time a job attempt ran",
            ["task", "queue"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.wait_time = Histogram(
            "uno_jobs_wait_seconds",
            "Time a job waited between due and start",
            ["task", "queue"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def __call__(self, event: JobEvent) -> None:
        if event.kind is EventKind.ENQUEUED:
            self.enqueued.labels(event.task_name, event.queue_name).inc()
        elif event.kind is EventKind.STARTED:
            if event.wait_time is not None:
                self.wait_time.labels(event.task_name, event.queue_name).observe(event.wait_time)
        else:
            outcome = "succeeded" if event.kind is EventKind.SUCCEEDED else event.status.value
            self.finished.labels(event.task_name, event.queue_name, outcome).inc()
            if event.duration is not None:
                self.run_time.labels(event.task_name, event.queue_name).observe(event.duration)
            if event.kind is EventKind.FAILED:
                log.warning(
                    "job %s (%s) attempt failed: now %s",
                    event.job_id,
                    event.task_name,
                    event.status.value,
                )


_observed: weakref.WeakKeyDictionary[JobSystem, JobMetrics] = weakref.WeakKeyDictionary()


def observe(system: JobSystem) -> JobMetrics:
    """Attach metrics to a job system once and return them."""
    metrics = _observed.get(system)
    if metrics is None:
        metrics = _observed[system] = JobMetrics()
        system.events.subscribe(metrics)
    return metrics
