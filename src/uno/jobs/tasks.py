"""Tasks: the registered, versioned definitions that jobs call."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from uno.jobs.errors import TaskNotFound, ValidationError
from uno.jobs.limits import DEFAULT_LIMITS, Limits, check_count, check_name, check_seconds
from uno.jobs.retry import RetryPolicy

Executor = Literal["thread", "process"]
DEFAULT_VERSION = "1.0"
DEFAULT_QUEUE = "default"
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY = 60.0


@dataclass(frozen=True, slots=True)
class Task:
    """A Python function registered under a name and a version.

    ``executor`` says where a plain (non-async) function runs: ``"thread"`` (the
    default) or ``"process"`` for CPU-bound work that should not hold the GIL.
    """

    name: str
    func: Callable[..., Any]
    version: str = DEFAULT_VERSION
    description: str | None = None
    queue: str = DEFAULT_QUEUE
    timeout: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY
    backoff: bool = False
    jitter: float = 0.0
    executor: Executor = "thread"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: Whether ``func`` is a coroutine function: asked once per job, so computed once.
    is_async: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.func))

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(delay=self.retry_delay, backoff=self.backoff, jitter=self.jitter)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling a task calls its function directly, as a plain function call."""
        return self.func(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class TaskRef:
    """A task known by name only: what a producer that does not import the task's
    code needs to enqueue its jobs (Celery's ``send_task``, Oban's string workers).

    The producer cannot read the task's defaults, so the ref carries them: the
    queue its jobs go to, and their retries and timeout. ``version=None`` lets the
    worker run its highest version. Nothing checks here that the task exists: a
    worker without the task never runs the job.
    """

    name: str
    queue: str = DEFAULT_QUEUE
    version: str | None = None
    timeout: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY

    def __post_init__(self) -> None:
        _validate_ref(self)


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: "1.10" > "1.9", numbers before words in the same place."""
    parts = re.split(r"[.\-+]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


class TaskRegistry:
    """Every task the process knows, by name and version."""

    def __init__(self) -> None:
        self._tasks: dict[str, dict[str, Task]] = {}
        self._latest: dict[str, Task] = {}

    def register(self, task: Task) -> Task:
        _validate_task(task)
        versions = self._tasks.setdefault(task.name, {})
        versions[task.version] = task
        self._latest[task.name] = versions[max(versions, key=_version_key)]
        return task

    def get(self, name: str, version: str | None = None) -> Task:
        """The task of that name: the given version, or the highest one registered."""
        if version is None:
            latest = self._latest.get(name)
            if latest is None:
                raise TaskNotFound(f"Task not found: {name}")
            return latest
        versions = self._tasks.get(name)
        if not versions:
            raise TaskNotFound(f"Task not found: {name}")
        try:
            return versions[version]
        except KeyError:
            known = ", ".join(sorted(versions, key=_version_key))
            raise TaskNotFound(
                f"Task not found: {name} version {version} (known versions: {known})"
            ) from None

    def versions(self, name: str) -> list[str]:
        return sorted(self._tasks.get(name, {}), key=_version_key)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def all(self) -> list[Task]:
        """The highest version of every task, sorted by name."""
        return [self.get(name) for name in sorted(self._tasks)]

    def all_versions(self) -> Iterable[Task]:
        for name in sorted(self._tasks):
            for version in self.versions(name):
                yield self._tasks[name][version]

    def queues(self) -> set[str]:
        return {t.queue for t in self.all_versions()}


def _validate_task(task: Task, limits: Limits = DEFAULT_LIMITS) -> None:
    """A task's own settings obey the default limits, as a job's would.

    Its jobs inherit them, so a task that asks for more than a job may (a retry
    delay of years, a timeout past any date) is refused when it is defined.
    """
    if not isinstance(task.name, str) or not task.name:
        raise ValidationError("A task needs a non-empty name")
    check_name(task.name, "task name", limits)
    what = f"task {task.name}"
    if not task.version:
        raise ValidationError(f"Task {task.name} needs a non-empty version")
    check_name(task.version, f"version of {what}", limits)
    if not task.queue:
        raise ValidationError(f"Task {task.name} needs a non-empty queue")
    check_name(task.queue, f"queue of {what}", limits)
    if task.timeout is not None:
        check_seconds(task.timeout, f"timeout of {what}", limits.max_timeout, positive=True)
    check_count(task.max_retries, f"max_retries of {what}", limits.max_retries)
    check_seconds(task.retry_delay, f"retry_delay of {what}", limits.max_retry_delay)
    if task.executor not in ("thread", "process"):
        raise ValidationError(f"executor of task {task.name} must be 'thread' or 'process'")


def _validate_ref(ref: TaskRef, limits: Limits = DEFAULT_LIMITS) -> None:
    """A ref's defaults obey the limits a task's do (see ``_validate_task``)."""
    if not isinstance(ref.name, str) or not ref.name:
        raise ValidationError("A task reference needs a non-empty name")
    check_name(ref.name, "task name", limits)
    if ref.version is not None:
        check_name(ref.version, f"version of task {ref.name}", limits)
    if not ref.queue:
        raise ValidationError(f"Task {ref.name} needs a non-empty queue")
    check_name(ref.queue, f"queue of task {ref.name}", limits)
    if ref.timeout is not None:
        check_seconds(ref.timeout, f"timeout of task {ref.name}", limits.max_timeout, positive=True)
    check_count(ref.max_retries, f"max_retries of task {ref.name}", limits.max_retries)
    check_seconds(ref.retry_delay, f"retry_delay of task {ref.name}", limits.max_retry_delay)
