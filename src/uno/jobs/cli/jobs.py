"""`uno-jobs jobs`: list, show, enqueue, retry, cancel and run jobs from the terminal.

Jobs are enqueued by name (``JobSystem.enqueue_by_name``): the command does not
import the tasks' code, and the worker that claims a job checks it has the task.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from uno.jobs.api.dtos.jobs import JobListDto, JobViewDto
from uno.jobs.cli import cli
from uno.jobs.cli.database import check_page, on_database
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.cli.output import JsonOption, print_fields, print_json, print_table
from uno.jobs.errors import JobFailed, JobsError, ValidationError
from uno.jobs.jobs import Job, JobError
from uno.jobs.limits import check_seconds
from uno.jobs.queries import JOB_ORDER_FIELDS, JobFilter
from uno.jobs.system import JobSystem
from uno.jobs.tasks import DEFAULT_QUEUE, TaskRef

jobs_cli = typer.Typer(
    name="jobs", help="List, inspect, enqueue, retry, cancel and run jobs.", no_args_is_help=True
)
cli.add_typer(jobs_cli)

JobIdArgument = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")]
TaskArgument = Annotated[str, typer.Argument(metavar="TASK", help="The task's name.")]
ArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        metavar="VALUE",
        help="A positional argument, repeatable; read as JSON when it is JSON (42, true, "
        '"42", [1,2]), else as text.',
    ),
]
KwargOption = Annotated[
    list[str] | None,
    typer.Option(
        "--kwarg", metavar="NAME=VALUE", help="A keyword argument, repeatable (as --arg)."
    ),
]
QueueOption = Annotated[
    str | None, typer.Option("--queue", metavar="NAME", help="Queue (default: default).")
]
PriorityOption = Annotated[
    str, typer.Option("--priority", metavar="PRIORITY", help="low, normal, high or critical.")
]

#: Columns of ``jobs list``.
LIST_COLUMNS = ("id", "task", "queue", "priority", "status", "created", "retries", "worker")


def list_row(job: Job) -> tuple[Any, ...]:
    retries = f"{job.retry_count}/{job.max_retries}"
    return (
        job.id,
        job.task_name,
        job.queue_name,
        job.priority,
        job.status,
        job.created_at,
        retries,
        job.worker_id,
    )


@jobs_cli.command("list")
def list_jobs(
    queue: Annotated[str | None, typer.Option("--queue", metavar="NAME")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", metavar="STATUS", help="Repeatable: any of them matches."),
    ] = None,
    priority: Annotated[str | None, typer.Option("--priority", metavar="PRIORITY")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="TAG", help="Repeatable: jobs having all of them."),
    ] = None,
    worker: Annotated[str | None, typer.Option("--worker", metavar="WORKER_ID")] = None,
    task: Annotated[str | None, typer.Option("--task", metavar="NAME")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="Page size.")] = 100,
    offset: Annotated[int, typer.Option("--offset", metavar="N", help="Jobs to skip.")] = 0,
    order_by: Annotated[
        str, typer.Option("--order-by", metavar="FIELD", help=", ".join(JOB_ORDER_FIELDS))
    ] = "created_at",
    order_dir: Annotated[str, typer.Option("--order-dir", metavar="asc|desc")] = "desc",
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first, with the REST API's filters."""

    async def work(system: JobSystem) -> tuple[list[Job], int]:
        check_page(limit, offset, system.settings.limits)
        job_filter = JobFilter(
            queue_name=queue,
            statuses=tuple(status or ()),  # type: ignore[arg-type]  # checked by JobFilter
            priority=priority,  # type: ignore[arg-type]
            tags=tuple(tag or ()),
            worker_id=worker,
            task_name=task,
            limit=limit,
            offset=offset,
            order_by=order_by,
            order_dir=order_dir,
        )
        return await system.list_jobs(job_filter)

    jobs, total = on_database(database, work)
    if as_json:
        print_json(JobListDto.from_page(jobs, total, limit, offset))
        return
    shown_to = offset + len(jobs)
    title = f"Jobs {offset + 1 if jobs else 0}-{shown_to} of {total}"
    print_table(title, LIST_COLUMNS, (list_row(job) for job in jobs))


@jobs_cli.command("show")
def show(
    job_id: JobIdArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Show one job: its arguments, status, result or error."""
    job = on_database(database, lambda system: system.get(job_id))
    print_job(job, as_json)


def print_job(job: Job, as_json: bool, title: str | None = None) -> None:
    view = JobViewDto.from_domain(job)
    if as_json:
        print_json(view)
        return
    fields = view.model_dump(exclude={"error"})
    if job.error is not None:
        fields["error"] = f"{job.error.type}: {job.error.message}"
    print_fields(title or f"Job {job.id}", fields.items())


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_kwargs(pairs: list[str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValidationError(f"--kwarg takes NAME=VALUE, got {pair!r}")
        kwargs[name] = parse_value(value)
    return kwargs


@jobs_cli.command("enqueue")
def enqueue(
    task: TaskArgument,
    arg: ArgOption = None,
    kwarg: KwargOption = None,
    queue: QueueOption = None,
    priority: PriorityOption = "normal",
    delay: Annotated[
        float | None, typer.Option("--delay", metavar="SECONDS", help="Run no sooner than this.")
    ] = None,
    max_retries: Annotated[int | None, typer.Option("--max-retries", metavar="N")] = None,
    retry_delay: Annotated[float | None, typer.Option("--retry-delay", metavar="SECONDS")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="SECONDS")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="TAG")] = None,
    version: Annotated[
        str | None,
        typer.Option("--task-version", metavar="VERSION", help="Default: the worker's highest."),
    ] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", metavar="ID")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enqueue a job of TASK by name (the worker checks it has the task) and print its id."""
    args = [parse_value(value) for value in arg or ()]
    kwargs = parse_kwargs(kwarg or [])
    options: dict[str, Any] = {
        "priority": priority,
        "delay": delay,
        "max_retries": max_retries,
        "retry_delay": retry_delay,
        "timeout": timeout,
        "tags": tag or (),
        "version": version,
        "job_id": job_id,
    }

    async def work(system: JobSystem) -> Job:
        return await system.enqueue_by_name(task, args, kwargs, queue=queue, **options)

    job = on_database(database, work)
    if as_json:
        print_json(JobViewDto.from_domain(job))
    else:
        typer.echo(f"Enqueued job {job.id} ({job.task_name} on queue {job.queue_name})")


@jobs_cli.command("retry")
def retry(
    job_id: JobIdArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Send a failed, timed-out or cancelled job back to pending (else refused, exit 1)."""
    job = on_database(database, lambda system: system.retry(job_id))
    if as_json:
        print_json(JobViewDto.from_domain(job))
    else:
        typer.echo(f"Job {job.id} is {job.status.value} again")


@jobs_cli.command("cancel")
def cancel(
    job_id: JobIdArgument,
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an unfinished job (a running one is stopped by its worker); a finished
    one is refused (exit 1)."""
    job = on_database(database, lambda system: system.cancel(job_id, reason))
    if as_json:
        print_json(JobViewDto.from_domain(job))
    else:
        typer.echo(f"Job {job.id} is {job.status.value}")


@jobs_cli.command("run")
def run(
    task: TaskArgument,
    arg: ArgOption = None,
    kwarg: KwargOption = None,
    queue: QueueOption = None,
    priority: PriorityOption = "normal",
    max_retries: Annotated[
        int | None,
        typer.Option(
            "--max-retries",
            metavar="N",
            help="Default 3: a producer by name cannot read the task's own.",
        ),
    ] = None,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="Longest wait (default: the job's timeout, at most 300).",
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Enqueue a job of TASK, wait for a worker to run it and print its result as JSON.

    A job that fails, times out or is cancelled ends the command with exit 1 and
    its error; so does a wait that runs out (the job keeps its place in the queue).
    """
    args = [parse_value(value) for value in arg or ()]
    kwargs = parse_kwargs(kwarg or [])
    ref = TaskRef(task, queue=queue or DEFAULT_QUEUE)

    async def work(system: JobSystem) -> Any:
        longest = system.settings.limits.max_run_sync_wait  # the bound of run-sync
        waited = None if wait is None else check_seconds(wait, "--wait", longest, positive=True)
        return await system.run(
            ref, args, kwargs, wait_timeout=waited, priority=priority, max_retries=max_retries
        )

    try:
        result = on_database(database, work)
    except JobFailed as exc:  # the task's traceback stays on the job (``jobs show``)
        error = exc.error
        reason = f"{error.type}: {error.message}" if isinstance(error, JobError) else error
        raise JobsError(f"Job {exc.job_id} ended {exc.status}: {reason}") from None
    typer.echo(json.dumps(result, default=str))
