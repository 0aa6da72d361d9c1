"""The questions asked of stored jobs: filters are checked once, when made, and
statistics are computed once, from the counts a store returns."""

from __future__ import annotations

from typing import Any

import pytest

from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Priority, Status
from uno.jobs.queries import JobFilter, JobGroup, JobStats, ScheduleFilter
from uno.jobs.schedules import ScheduleStatus


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"order_by": "nope"}, "order jobs by"),
        ({"order_by": "created_at; DROP TABLE jobs"}, "order jobs by"),
        ({"order_dir": "sideways"}, "order_dir"),
        ({"order_dir": None}, "order_dir"),
        ({"limit": -1}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": 1.5}, "limit"),
        ({"offset": True}, "offset"),
        ({"statuses": ("sleeping",)}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"tags": "x"}, "tags"),
    ],
)
def test_a_job_filter_is_refused_when_made(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        JobFilter(**fields)


def test_a_job_filter_is_kept_in_canonical_form() -> None:
    made = JobFilter(
        statuses=("failed", Status.TIMEOUT), priority="high", tags=["a"], order_dir="ASC"
    )  # type: ignore[arg-type]
    assert made.statuses == (Status.FAILED, Status.TIMEOUT)
    assert made.priority is Priority.HIGH
    assert made.tags == ("a",)
    assert made.order_dir == "asc"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"status": "sleeping"}, "status"),
        ({"limit": -1}, "limit"),
        ({"offset": -3}, "offset"),
        ({"tags": ("\x00",)}, "filter"),
    ],
)
def test_a_schedule_filter_is_refused_when_made(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ScheduleFilter(**fields)
    loose: dict[str, Any] = {"status": "paused"}
    assert ScheduleFilter(**loose).status is ScheduleStatus.PAUSED


LOW = Priority.LOW


def group(status: Status, queue: str, priority: Priority, jobs: int, **sums: Any) -> JobGroup:
    timing = {"waited": 0.0, "started": 0, "ran": 0.0, "finished": 0} | sums
    return JobGroup(status, queue, priority, jobs, **timing)


def test_stats_categories_come_from_the_domains_status_sets() -> None:
    groups = [group(status, "q", Priority.NORMAL, n) for n, status in enumerate(Status, 1)]
    stats = JobStats.from_groups(groups)
    n = {status: count for count, status in enumerate(Status, 1)}
    assert stats.total_jobs == sum(n.values())
    assert stats.pending_jobs == n[Status.PENDING] + n[Status.RETRYING]
    assert stats.running_jobs == n[Status.RESERVED] + n[Status.RUNNING]
    assert stats.completed_jobs == n[Status.COMPLETED]
    assert stats.failed_jobs == n[Status.FAILED] + n[Status.TIMEOUT]
    assert stats.cancelled_jobs == n[Status.CANCELLED]
    assert stats.by_status == {s.value: count for s, count in n.items()}
    assert stats.by_queue == {"q": {"total_jobs": 36, "pending_jobs": 1 + 6}}


def test_run_time_averages_finished_jobs_only() -> None:
    """A store may keep the end of a retrying job's last attempt: it is not a finished run."""
    stats = JobStats.from_groups(
        [
            group(
                Status.COMPLETED, "b", Priority.LOW, 2, waited=4.0, started=2, ran=6.0, finished=2
            ),
            group(
                Status.RETRYING, "a", Priority.LOW, 1, waited=1.0, started=1, ran=100.0, finished=1
            ),
        ]
    )
    assert stats.avg_run_time == 3.0
    assert stats.avg_wait_time == pytest.approx(5 / 3)
    assert list(stats.by_queue) == ["a", "b"]
    assert stats.by_priority == {"critical": 0, "high": 0, "normal": 0, "low": 3}
