"""Three real `uno-jobs scheduler` processes on one database: every occurrence once.

A one-second interval schedule runs for about ten seconds while three scheduler
processes race for it. Afterwards each occurrence must have exactly one job, and
consecutive occurrences must be one interval apart (no duplicates, no gaps).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from helpers import StoreFactory, eventually
from uno.jobs.queries import JobFilter
from uno.jobs.system import JobSystem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

PROCESSES = 3
#: How many occurrences to watch: about ten seconds of a one-second interval.
OCCURRENCES = 10

TASKS_MODULE = '''
"""A tiny app for the scheduler processes of this test."""
import os

from uno.jobs import JobSystem

schema = os.environ.get("TEST_POSTGRES_SCHEMA")
if schema:
    from uno.jobs.store.postgres import PostgresStore

    jobs = JobSystem(store=PostgresStore(os.environ["UNO_JOBS_DATABASE_URL"], schema=schema))
else:
    jobs = JobSystem()


@jobs.task
def beat() -> None:
    """Does nothing: only the jobs' existence matters here."""
'''


def scheduler_command() -> list[str]:
    """`uno-jobs scheduler`, from this interpreter's environment."""
    script = Path(sys.executable).parent / "uno-jobs"
    if script.exists():
        return [str(script), "scheduler"]
    return [sys.executable, "-c", "from uno.jobs.cli import main; main()", "scheduler"]


async def test_three_scheduler_processes_fire_each_occurrence_once(
    tmp_path: Path, store_factory: StoreFactory
) -> None:
    """On the shared fixture's fresh database: SQLite, and PostgreSQL in its own schema."""
    store = await store_factory()
    url: str = store.url
    schema: str | None = getattr(store, "schema", None)
    (tmp_path / "beat_tasks.py").write_text(TASKS_MODULE)
    env = {
        **os.environ,
        "UNO_JOBS_DATABASE_URL": url,
        "UNO_JOBS_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    if schema:
        env["TEST_POSTGRES_SCHEMA"] = schema

    system = JobSystem(store=store)

    @system.task
    def beat() -> None:  # pragma: no cover - only enqueued here
        """The same task the processes know."""

    logs = [tmp_path / f"scheduler-{i}.log" for i in range(PROCESSES)]
    processes = []
    for log in logs:
        with log.open("w") as log_file:  # the child keeps its own copy of the descriptor
            processes.append(
                await asyncio.create_subprocess_exec(
                    *scheduler_command(),
                    "--app",
                    "beat_tasks",
                    cwd=tmp_path,
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log_file,
                )
            )
    try:

        async def all_started() -> bool:
            texts = [await asyncio.to_thread(log.read_text) for log in logs]
            return all("Scheduler started" in text for text in texts)

        await eventually(all_started, timeout=30, interval=0.05, what="every scheduler started")
        schedule = await system.schedules.create("heartbeat", "beat", interval={"seconds": 1})

        async def enough_jobs() -> bool:
            assert all(p.returncode is None for p in processes), "a scheduler process died"
            _, total = await system.list_jobs(JobFilter(limit=1))
            return total >= OCCURRENCES

        await eventually(
            enough_jobs, timeout=OCCURRENCES + 20, interval=0.1, what=f"{OCCURRENCES} jobs"
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(process.wait(), timeout=15) for process in processes]
    output = "\n".join(log.read_text() for log in logs)
    assert codes == [0] * PROCESSES, output

    jobs, total = await system.list_jobs(JobFilter(limit=1000))
    assert all(job.metadata["schedule_id"] == schedule.id for job in jobs)
    occurrences = sorted(
        datetime.fromisoformat(job.metadata["scheduled_occurrence"]) for job in jobs
    )
    assert len(occurrences) == len(set(occurrences)) == total >= OCCURRENCES, output
    gaps = [b - a for a, b in itertools.pairwise(occurrences)]
    assert set(gaps) == {timedelta(seconds=1)}, occurrences
    # Every job was announced by exactly one process: the one that won its occurrence.
    assert output.count(" fired for ") == total, output
