"""`uno-jobs jobs ...` as a real process, on SQLite and PostgreSQL: enqueue by name,
list with the REST API's filters, show, cancel and retry, in tables and as JSON,
with not-found and refused cases ending in one line and the documented status."""

from __future__ import annotations

import subprocess

import pytest
from cli_support import UNO_JOBS, Cli, assert_one_line_failure, total_jobs

from processes import clean_env

pytestmark = pytest.mark.slow


def enqueue(cli: Cli, database: str, *args: str) -> dict[str, object]:
    job: dict[str, object] = cli.json("jobs", "enqueue", *args, "--database", database)
    return job


def test_enqueue_list_and_show_by_name(cli: Cli, database: str) -> None:
    first = enqueue(cli, database, "add", "--arg", "2", "--arg", "3", "--queue", "maths")
    second = enqueue(
        cli, database, "send", "--arg", "alice", "--kwarg", 'to={"a": 1}', "--tag", "x",
        "--priority", "high",
    )  # fmt: skip
    assert first["args"] == [2, 3] and first["queue_name"] == "maths"
    assert first["status"] == "pending" and first["version"] is None
    assert second["args"] == ["alice"] and second["kwargs"] == {"to": {"a": 1}}

    listed = cli.json("jobs", "list", "--database", database)
    assert [j["id"] for j in listed["items"]] == [second["id"], first["id"]]  # newest first
    assert (listed["total"], listed["page"], listed["page_size"], listed["pages"]) == (2, 1, 100, 1)

    only = cli.json("jobs", "list", "--queue", "maths", "--database", database)
    assert [j["id"] for j in only["items"]] == [first["id"]]
    tagged = cli.json("jobs", "list", "--tag", "x", "--priority", "high", "--database", database)
    assert [j["id"] for j in tagged["items"]] == [second["id"]]
    paged = cli.json("jobs", "list", "--limit", "1", "--offset", "1", "--database", database)
    assert [j["id"] for j in paged["items"]] == [first["id"]] and paged["pages"] == 2

    shown = cli.json("jobs", "show", str(first["id"]), "--database", database)
    assert shown == first

    table = cli("jobs", "list", "--database", database)
    assert table.returncode == 0, table.stderr
    assert str(first["id"]) in table.stdout and "maths" in table.stdout
    assert "Jobs 1-2 of 2" in table.stdout


def test_cancel_then_retry_and_the_refusals(cli: Cli, database: str) -> None:
    job = enqueue(cli, database, "add", "--arg", "1")
    job_id = str(job["id"])

    refused = cli("jobs", "retry", job_id, "--database", database)
    assert_one_line_failure(refused, 1, f"job {job_id}: it is pending")

    cancelled = cli.json("jobs", "cancel", job_id, "--reason", "not needed", "--database", database)
    assert cancelled["status"] == "cancelled"
    assert cancelled["metadata"]["cancel_reason"] == "not needed"

    again = cli("jobs", "cancel", job_id, "--database", database)
    assert_one_line_failure(again, 1, "it is cancelled")

    retried = cli("jobs", "retry", job_id, "--database", database)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"Job {job_id} is pending again"
    assert cli.json("jobs", "show", job_id, "--database", database)["status"] == "pending"


@pytest.mark.parametrize("verb", ["show", "retry", "cancel"])
def test_an_unknown_job_is_one_line_and_exit_1(cli: Cli, database: str, verb: str) -> None:
    result = cli("jobs", verb, "no-such-job", "--database", database, "--json")
    assert_one_line_failure(result, 1, "no-such-job")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["list", "--status", "bogus"], "Invalid status 'bogus'"),
        (["list", "--limit", "0"], "limit must be 1 or more"),
        (["list", "--limit", "1001"], "limit must be between 0 and 1000"),
        (["list", "--order-by", "nope"], "Cannot order jobs by 'nope'"),
        (["enqueue", "add", "--kwarg", "novalue"], "--kwarg takes NAME=VALUE"),
        (["enqueue", "add", "--priority", "urgent"], "urgent"),
        (["enqueue", "add", "--delay", "-1"], "delay"),
    ],
)
def test_bad_values_are_usage_errors(cli: Cli, database: str, args: list[str], says: str) -> None:
    result = cli("jobs", *args, "--database", database)
    assert_one_line_failure(result, 2, says)
    assert total_jobs(database) == 0  # nothing written


def test_a_missing_sqlite_file_is_not_created(cli: Cli) -> None:
    path = cli.cwd / "nowhere.db"
    result = cli("jobs", "list", "--database", f"sqlite:///{path}")
    assert_one_line_failure(result, 1, f"No database at {path}")
    assert not path.exists()


TASKS = """
from uno.jobs import JobSystem

jobs = JobSystem()


@jobs.task(max_retries=0)
def add(a: int, b: int) -> int:
    return a + b


@jobs.task(max_retries=0)
def boom() -> None:
    raise RuntimeError("it broke")
"""


def test_run_waits_for_a_worker_and_prints_the_result(cli: Cli, database: str) -> None:
    (cli.cwd / "tasks.py").write_text(TASKS)
    worker = subprocess.Popen(
        [UNO_JOBS, "worker", "--app", "tasks", "--database", database, "--queues", "default"],
        cwd=cli.cwd,
        env=clean_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = cli("jobs", "run", "add", "--arg", "2", "--arg", "3", "--database", database)
        assert (result.returncode, result.stdout) == (0, "5\n"), result.stderr
        # By name, the job cannot know the task's max_retries=0: the caller says it.
        failed = cli("jobs", "run", "boom", "--max-retries", "0", "--database", database)
        assert_one_line_failure(failed, 1, "ended failed")
        assert "it broke" in failed.stderr

        cli.json("queues", "pause", "default", "--database", database)
        paused = cli("jobs", "run", "add", "--arg", "1", "--arg", "1", "--database", database)
        assert_one_line_failure(paused, 1, "default")
        assert cli.json("jobs", "list", "--task", "add", "--database", database)["total"] == 1
    finally:
        worker.terminate()
        worker.wait(timeout=60)
