"""Prometheus metrics and log lines, fed by job events.

``observe(system)`` subscribes once; the API serves ``render`` at ``/metrics``.
Each JobSystem gets its own ``CollectorRegistry`` so several systems (or tests)
in one process never collide on metric names.

Queue names, and the names of tasks this process does not know, come from
callers, and each distinct label value is a series in every scrape. So only the
busiest ``Limits.max_metric_queues`` queues (and ``max_metric_tasks`` unknown
task names) get their own label; the rest are summed under ``other``. The
queues and tasks the process defines always get theirs. Tallies are kept here
as plain numbers and turned into samples when scraped, and ``render`` runs off
the event loop.
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

#: The (task, queue) labels of a series as tallied: each a name, or ``OTHER``.
Pair = tuple[str, str]


class BusiestNames:
    """Which values of one label get their own series: the busiest, and some always.

    ``key`` is called for every event and counts it. At most ``shown`` times
    ``TRACKED_PER_SHOWN`` names are counted one by one, so memory stays bounded
    however many names callers invent: a new name takes the place of the least
    active one and inherits its count (the Space-Saving algorithm), so a name
    that keeps coming climbs above the ones seen once or twice whenever it came.
    ``chooser`` picks the ``shown`` busiest when scraped.
    """

    def __init__(self, shown: int, always: Callable[[str], bool]) -> None:
        self.shown = shown
        self.always = always
        self._activity: dict[str, int] = {}

    def key(self, name: str) -> tuple[str, str | None]:
        """The name an event is tallied under, and the name it displaced, if any."""
        if self.always(name):
            return name, None
        activity = self._activity
        count = activity.get(name)
        if count is not None:
            activity[name] = count + 1
            return name, None
        if len(activity) < self.shown * TRACKED_PER_SHOWN:
            activity[name] = 1
            return name, None
        displaced = min(activity, key=activity.__getitem__)
        activity[name] = activity.pop(displaced) + 1
        return name, displaced

    def chooser(self) -> Callable[[str], str]:
        """The label of a tallied name in this scrape."""
        busiest = set(heapq.nlargest(self.shown, self._activity, key=self._activity.__getitem__))
        always = self.always
        return lambda name: name if name in busiest or always(name) else OTHER


class _Series:
    """Everything counted for one (task, queue) pair, as plain numbers."""

    __slots__ = ("attempts", "enqueued", "run_time", "wait_time")

    def __init__(self) -> None:
        self.enqueued = 0
        self.attempts: dict[str, int] = {}
        #: The count of each bucket (the last one above every bound), then the sum.
        self.run_time = [0.0] * (len(_BUCKETS) + 2)
        self.wait_time = [0.0] * (len(_BUCKETS) + 2)

    def add(self, other: _Series) -> None:
        self.enqueued += other.enqueued
        for outcome, count in other.attempts.items():
            self.attempts[outcome] = self.attempts.get(outcome, 0) + count
        for mine, theirs in ((self.run_time, other.run_time), (self.wait_time, other.wait_time)):
            for i, value in enumerate(theirs):
                mine[i] += value

    def copy(self) -> _Series:
        copied = _Series()
        copied.add(self)
        return copied


def _observe(histogram: list[float], value: float) -> None:
    histogram[bisect.bisect_left(_BUCKETS, value)] += 1
    histogram[-1] += value


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
        self._series: dict[Pair, _Series] = {}
        #: The pairs that hold a name, by (label position, name), to fold a displaced name.
        self._pairs_of: dict[tuple[int, str], set[Pair]] = {}
        self._defined_queues = self._queues_defined()
        self._tasks = BusiestNames(limits.max_metric_tasks, self._task_defined)
        self._queues = BusiestNames(limits.max_metric_queues, self._defined_queues.__contains__)
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
            series = self._series_of(event.task_name, event.queue_name)
            if event.kind is EventKind.ENQUEUED:
                series.enqueued += 1
            elif event.kind is EventKind.STARTED:
                if event.wait_time is not None:
                    _observe(series.wait_time, event.wait_time)
            else:
                outcome = "succeeded" if event.kind is EventKind.SUCCEEDED else event.status.value
                series.attempts[outcome] = series.attempts.get(outcome, 0) + 1
                if event.duration is not None:
                    _observe(series.run_time, event.duration)
        if event.kind is EventKind.FAILED:
            log.warning(
                "job %s (%s) attempt failed: now %s",
                event.job_id,
                event.task_name,
                event.status.value,
            )

    def _series_of(self, task_name: str, queue_name: str) -> _Series:
        task, displaced_task = self._tasks.key(task_name)
        if displaced_task is not None:
            self._fold(0, displaced_task)
        queue, displaced_queue = self._queues.key(queue_name)
        if displaced_queue is not None:
            self._fold(1, displaced_queue)
        pair = (task, queue)
        series = self._series.get(pair)
        if series is None:
            series = self._series[pair] = _Series()
            self._index(pair)
        return series

    def _index(self, pair: Pair) -> None:
        for position, name in enumerate(pair):
            if name != OTHER:
                self._pairs_of.setdefault((position, name), set()).add(pair)

    def _fold(self, position: int, name: str) -> None:
        """Sum the series of a name no longer counted one by one into ``OTHER``."""
        for pair in self._pairs_of.pop((position, name), ()):
            series = self._series.pop(pair)
            kept = pair[1 - position]
            if kept != OTHER:
                self._pairs_of[(1 - position, kept)].discard(pair)
            folded = (OTHER, kept) if position == 0 else (kept, OTHER)
            into = self._series.get(folded)
            if into is None:
                self._series[folded] = series
                self._index(folded)
            else:
                into.add(series)

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
            tallied = [(pair, series.copy()) for pair, series in self._series.items()]
        shown: dict[Pair, _Series] = {}
        for (task, queue), series in tallied:
            labels = (task_label(task), queue_label(queue))
            if labels in shown:
                shown[labels].add(series)
            else:
                shown[labels] = series

        enqueued = CounterMetricFamily(
            "uno_jobs_enqueued", "Jobs enqueued", labels=["task", "queue"]
        )
        attempts = CounterMetricFamily(
            "uno_jobs_attempts",
            "Job attempts by outcome (succeeded, failed, retrying, timeout, cancelled)",
            labels=["task", "queue", "outcome"],
        )
        run_time = HistogramMetricFamily(
            "uno_jobs_run_seconds", "Time a job attempt ran", labels=["task", "queue"]
        )
        wait_time = HistogramMetricFamily(
            "uno_jobs_wait_seconds",
            "Time a job waited between due and start",
            labels=["task", "queue"],
        )
        for labels, series in shown.items():
            if series.enqueued:
                enqueued.add_metric(labels, series.enqueued)
            for outcome, count in series.attempts.items():
                attempts.add_metric([*labels, outcome], count)
            _add_histogram(run_time, labels, series.run_time)
            _add_histogram(wait_time, labels, series.wait_time)
        yield from (enqueued, attempts, run_time, wait_time)
        system = self.system
        if system is not None:
            yield GaugeMetricFamily(
                "uno_jobs_waiters",
                "Callers waiting for a job to finish in this process (run-sync among them)",
                value=system.waiting,
            )

    def describe(self) -> Iterator[Metric]:
        return iter(())  # samples depend on the scrape: nothing to check up front


def _add_histogram(family: HistogramMetricFamily, labels: Pair, counts: list[float]) -> None:
    if not any(counts[:-1]):
        return  # nothing observed for this pair
    cumulative, buckets = 0.0, []
    for bucket_name, count in zip(_BUCKET_NAMES, counts[:-1], strict=True):
        cumulative += count
        buckets.append((bucket_name, cumulative))
    family.add_metric(list(labels), buckets, sum_value=counts[-1])


_observed: weakref.WeakKeyDictionary[JobSystem, JobMetrics] = weakref.WeakKeyDictionary()


def observe(system: JobSystem) -> JobMetrics:
    """Attach metrics to a job system once and return them."""
    metrics = _observed.get(system)
    if metrics is None:
        metrics = _observed[system] = JobMetrics(system=system)
        system.events.subscribe(metrics)
    return metrics
