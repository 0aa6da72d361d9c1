"""Prometheus metrics and log lines, fed by job events.

``observe(system)`` subscribes once; the API serves ``render`` at ``/metrics``.
Each JobSystem gets its own ``CollectorRegistry`` so several systems (or tests)
in one process never collide on metric names.

Queue names, and the names of tasks this process does not know, come from
callers, and each distinct label value is a series in every scrape. So only the
busiest ``Limits.max_metric_queues`` queues (and ``max_metric_tasks`` unknown
task names) get their own label; the rest are summed under ``other``. The
queues and tasks the process defines always get theirs. Tallies are kept here
and turned into samples when scraped, so a queue that becomes one of the
busiest shows its counts from then on, and ``render`` runs off the event loop.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
import threading
import weakref
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from uno.jobs.events import EventKind, JobEvent
from uno.jobs.limits import DEFAULT_LIMITS, Limits
from uno.jobs.system import JobSystem
from uno.jobs.tasks import DEFAULT_QUEUE

log = logging.getLogger("uno.jobs")

_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600)
_BUCKET_NAMES = [floatToGoString(b) for b in _BUCKETS] + ["+Inf"]

#: The label value that sums every name without a label of its own.
OTHER = "other"
#: Names of one label counted one by one, to find the busiest, per name shown.
TRACKED_PER_SHOWN = 10

#: (task, queue) and (task, queue, outcome) as tallied: a name, or ``OTHER``.
Labels = tuple[str, ...]


class BusiestNames:
    """Which values of one label get their own series: the busiest, and some always.

    ``key`` is called for every event and counts it; names beyond the tracked
    ones go straight to ``OTHER``, so memory stays bounded however many names
    callers invent. ``chooser`` picks the ``shown`` busiest when scraped.
    """

    def __init__(self, shown: int, always: Callable[[str], bool]) -> None:
        self.shown = shown
        self.always = always
        self._activity: dict[str, int] = {}

    def key(self, name: str) -> str:
        """The name an event is tallied under: itself, or ``OTHER`` once too many."""
        if self.always(name):
            return name
        count = self._activity.get(name)
        if count is None:
            if len(self._activity) >= self.shown * TRACKED_PER_SHOWN:
                return OTHER
            count = 0
        self._activity[name] = count + 1
        return name

    def chooser(self) -> Callable[[str], str]:
        """The label of a tallied name in this scrape."""
        busiest = set(heapq.nlargest(self.shown, self._activity, key=self._activity.__getitem__))
        always = self.always
        return lambda name: name if name in busiest or always(name) else OTHER


class _Tallies:
    """Counts and histograms by label values, as plain numbers."""

    def __init__(self) -> None:
        self.enqueued: dict[Labels, int] = {}
        self.attempts: dict[Labels, int] = {}
        #: Per labels: the count of each bucket (the last one above every bound), then the sum.
        self.run_time: dict[Labels, list[float]] = {}
        self.wait_time: dict[Labels, list[float]] = {}

    def copy(self) -> _Tallies:
        copied = _Tallies()
        copied.enqueued = dict(self.enqueued)
        copied.attempts = dict(self.attempts)
        copied.run_time = {k: v.copy() for k, v in self.run_time.items()}
        copied.wait_time = {k: v.copy() for k, v in self.wait_time.items()}
        return copied


def _observe(histogram: dict[Labels, list[float]], labels: Labels, value: float) -> None:
    counts = histogram.get(labels)
    if counts is None:
        counts = histogram[labels] = [0.0] * (len(_BUCKETS) + 2)
    counts[bisect.bisect_left(_BUCKETS, value)] += 1
    counts[-1] += value


class JobMetrics(Collector):
    """Counters and histograms of job outcomes, per task and queue, with bounded labels."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        system: JobSystem | None = None,
    ) -> None:
        # Weak: the system holds these metrics (as an event subscriber), not the reverse.
        self._system = None if system is None else weakref.ref(system)
        limits: Limits = system.settings.limits if system is not None else DEFAULT_LIMITS
        self._lock = threading.Lock()  # events arrive on the loop, scrapes in a thread
        self._tallies = _Tallies()
        self._defined_queues = self._queues_defined()
        self._queues = BusiestNames(limits.max_metric_queues, self._defined_queues.__contains__)
        self._tasks = BusiestNames(limits.max_metric_tasks, self._task_defined)
        self.registry = registry or CollectorRegistry()
        self.registry.register(self)

    @property
    def system(self) -> JobSystem | None:
        return None if self._system is None else self._system()

    def _queues_defined(self) -> frozenset[str]:
        system = self.system
        defined = system.registry.queues() if system is not None else set()
        return frozenset(defined | {DEFAULT_QUEUE})

    def _task_defined(self, name: str) -> bool:
        system = self.system
        return system is not None and name in system.registry

    def __call__(self, event: JobEvent) -> None:
        with self._lock:
            tallies = self._tallies
            labels = (self._tasks.key(event.task_name), self._queues.key(event.queue_name))
            if event.kind is EventKind.ENQUEUED:
                tallies.enqueued[labels] = tallies.enqueued.get(labels, 0) + 1
            elif event.kind is EventKind.STARTED:
                if event.wait_time is not None:
                    _observe(tallies.wait_time, labels, event.wait_time)
            else:
                outcome = "succeeded" if event.kind is EventKind.SUCCEEDED else event.status.value
                key = (*labels, outcome)
                tallies.attempts[key] = tallies.attempts.get(key, 0) + 1
                if event.duration is not None:
                    _observe(tallies.run_time, labels, event.duration)
        if event.kind is EventKind.FAILED:
            log.warning(
                "job %s (%s) attempt failed: now %s",
                event.job_id,
                event.task_name,
                event.status.value,
            )

    # -- scraping -------------------------------------------------------------
    async def render(self) -> bytes:
        """The registry in Prometheus text format, built in a thread."""
        return await asyncio.to_thread(generate_latest, self.registry)

    def collect(self) -> Iterator[Metric]:
        """The samples of this scrape: tallies summed under the labels shown now."""
        self._defined_queues = self._queues_defined()
        self._queues.always = self._defined_queues.__contains__
        with self._lock:
            task_label, queue_label = self._tasks.chooser(), self._queues.chooser()
            tallies = self._tallies.copy()

        def relabel(labels: Labels) -> Labels:
            return (task_label(labels[0]), queue_label(labels[1]), *labels[2:])

        enqueued = CounterMetricFamily(
            "uno_jobs_enqueued", "Jobs enqueued", labels=["task", "queue"]
        )
        for labels, count in _sum_counts(tallies.enqueued, relabel).items():
            enqueued.add_metric(labels, count)
        yield enqueued
        attempts = CounterMetricFamily(
            "uno_jobs_attempts",
            "Job attempts by outcome (succeeded, failed, retrying, timeout, cancelled)",
            labels=["task", "queue", "outcome"],
        )
        for labels, count in _sum_counts(tallies.attempts, relabel).items():
            attempts.add_metric(labels, count)
        yield attempts
        yield _histogram(
            "uno_jobs_run_seconds", "Time a job attempt ran", tallies.run_time, relabel
        )
        yield _histogram(
            "uno_jobs_wait_seconds",
            "Time a job waited between due and start",
            tallies.wait_time,
            relabel,
        )
        system = self.system
        if system is not None:
            yield GaugeMetricFamily(
                "uno_jobs_waiters",
                "Callers waiting for a job to finish in this process (run-sync among them)",
                value=system.waiting,
            )

    def describe(self) -> Iterator[Metric]:
        return iter(())  # samples depend on the scrape: nothing to check up front


def _sum_counts(
    counts: dict[Labels, int], relabel: Callable[[Labels], Labels]
) -> dict[Labels, int]:
    summed: dict[Labels, int] = {}
    for labels, count in counts.items():
        shown = relabel(labels)
        summed[shown] = summed.get(shown, 0) + count
    return summed


def _histogram(
    name: str,
    documentation: str,
    tallies: dict[Labels, list[float]],
    relabel: Callable[[Labels], Labels],
) -> HistogramMetricFamily:
    summed: dict[Labels, list[float]] = {}
    for labels, counts in tallies.items():
        shown = relabel(labels)
        total = summed.get(shown)
        if total is None:
            summed[shown] = counts.copy()
        else:
            for i, value in enumerate(counts):
                total[i] += value
    family = HistogramMetricFamily(name, documentation, labels=["task", "queue"])
    for labels, counts in summed.items():
        cumulative, buckets = 0.0, []
        for bucket_name, count in zip(_BUCKET_NAMES, counts[:-1], strict=True):
            cumulative += count
            buckets.append((bucket_name, cumulative))
        family.add_metric(list(labels), buckets, sum_value=counts[-1])
    return family


_observed: weakref.WeakKeyDictionary[JobSystem, JobMetrics] = weakref.WeakKeyDictionary()


def observe(system: JobSystem) -> JobMetrics:
    """Attach metrics to a job system once and return them."""
    metrics = _observed.get(system)
    if metrics is None:
        metrics = _observed[system] = JobMetrics(system=system)
        system.events.subscribe(metrics)
    return metrics
