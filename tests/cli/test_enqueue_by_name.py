"""Enqueue by name from Python: a producer that imports no task code writes the job,
and the worker that has the task runs it. (What becomes of a job no worker has the
task for is the worker's rule, tested with the worker.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from uno.jobs import JobSystem, TaskNotFound, TaskRef, ValidationError
from uno.jobs.testing import drain


async def test_a_producer_without_the_task_enqueues_and_the_worker_runs_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    worker_side = JobSystem(url)

    @worker_side.task(queue="emails", max_retries=1)
    def send_welcome(user: str) -> str:
        return f"welcome, {user}"

    async with JobSystem(url) as producer, worker_side:
        with pytest.raises(TaskNotFound):  # without saying "by name", the registry decides
            await producer.enqueue("send_welcome", ["x"])
        by_name = await producer.enqueue_by_name("send_welcome", ["alice"], queue="emails")
        by_ref = await producer.enqueue(TaskRef("send_welcome", queue="emails", timeout=5), ["bob"])
        assert (by_name.queue_name, by_name.version, by_name.timeout) == ("emails", None, None)
        assert by_ref.timeout == 5.0

        await drain(worker_side, queues=["emails"])

        assert (await producer.get(by_name.id)).result == "welcome, alice"
        assert (await producer.get(by_ref.id)).result == "welcome, bob"


async def test_a_system_that_knows_the_task_applies_its_defaults(tmp_path: Path) -> None:
    async with JobSystem(f"sqlite:///{tmp_path / 'jobs.db'}") as system:

        @system.task(queue="reports", max_retries=1, version="2.0")
        def report() -> None: ...

        job = await system.enqueue_by_name("report")
        assert (job.queue_name, job.max_retries, job.version) == ("reports", 1, "2.0")
        elsewhere = await system.enqueue_by_name("report", queue="urgent")
        assert elsewhere.queue_name == "urgent"


def test_a_task_ref_obeys_the_limits() -> None:
    with pytest.raises(ValidationError):
        TaskRef("")
    with pytest.raises(ValidationError):
        TaskRef("t", timeout=-1)
    with pytest.raises(ValidationError):
        TaskRef("t", queue="x" * 1000)
