"""The uno-jobs app the benchmark workers and servers load: ``--app benchmarks.systems.uno_tasks``.

The database comes from ``--database`` or ``UNO_JOBS_DATABASE_URL``.
"""

from __future__ import annotations

from benchmarks.recorder import record
from uno.jobs import JobSystem

jobs = JobSystem()


@jobs.task(name="noop", max_retries=0)
async def noop(t: float) -> None:
    """Record the start time, nothing else."""
    record(t)
