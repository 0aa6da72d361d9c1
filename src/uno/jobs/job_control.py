"""The reads of job control, for the API, the CLI and the dashboard alike: a job
with its attempts and progress, the workers with their state, and the work that
waits for a worker able to run it.

The state of a worker is judged from the settings the workers run with: silent
after two heartbeat intervals without a beat (one may be late, not two), gone
after ``rescue_after``, when its running jobs are taken back.
"""

from __future__ import annotations

from dataclasses import dataclass

from uno.jobs.attempts import Attempt, Progress
from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Job
from uno.jobs.limits import check_name
from uno.jobs.system import JobSystem
from uno.jobs.workers import TaskBacklog, WorkerRecord, WorkerState, task_backlogs


@dataclass(frozen=True, slots=True)
class JobDetails:
    job: Job
    attempts: list[Attempt]
    progress: Progress | None


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker: WorkerRecord
    state: WorkerState


async def job_details(system: JobSystem, job_id: str) -> JobDetails:
    """The job (``JobNotFound`` when there is none), its attempts and its progress."""
    job = await system.get(job_id)
    attempts = await system.store.list_attempts(job_id)
    progress = await system.store.get_progress(job_id)
    return JobDetails(job, attempts, progress)


def _thresholds(system: JobSystem) -> tuple[float, float]:
    settings = system.settings
    silent_after = 2 * settings.heartbeat_interval
    return silent_after, max(settings.rescue_after, silent_after)


async def workers(system: JobSystem) -> list[WorkerView]:
    """Every worker kept (gone ones until pruned), with its state now."""
    await system.open()
    silent_after, gone_after = _thresholds(system)
    now = system.clock.now()
    return [
        WorkerView(w, w.state(now, silent_after, gone_after))
        for w in await system.store.list_workers()
    ]


async def worker(system: JobSystem, worker_id: str) -> WorkerView | None:
    try:
        check_name(worker_id, "worker id", system.settings.limits)
    except ValidationError:
        return None  # no worker could have registered under such an id
    await system.open()
    found = await system.store.get_worker(worker_id)
    if found is None:
        return None
    silent_after, gone_after = _thresholds(system)
    return WorkerView(found, found.state(system.clock.now(), silent_after, gone_after))


async def live_workers(system: JobSystem) -> list[WorkerRecord]:
    """The workers that may still claim jobs: alive or silent, not gone."""
    return [v.worker for v in await workers(system) if v.state is not WorkerState.GONE]


async def backlog(system: JobSystem) -> list[TaskBacklog]:
    """Waiting jobs per task and version, each marked runnable or not by the workers
    alive now (a worker that did not say what it runs runs anything)."""
    live = [w.tasks for w in await live_workers(system)]
    return task_backlogs(await system.store.waiting_tasks(), live)
