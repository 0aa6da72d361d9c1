"""Workers as operators see them: what each serves, what it has done, and whether
it is still there.

The store keeps one row per worker (its registration, heartbeats and counts); the
state shown is computed here, from the age of the last heartbeat at the caller's
``now``, so that the thresholds live in the settings and tests can pin the clock.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uno.jobs.tasks import TaskRegistry


@dataclass(frozen=True, slots=True, order=True)
class TaskRef:
    """A task a worker can run: its name and the version registered."""

    name: str
    version: str | None = None

    def runs(self, task_name: str, version: str | None) -> bool:
        """True when a job of ``task_name`` (at ``version``, None: any) may run here."""
        return self.name == task_name and (version is None or self.version == version)


def serves(tasks: Sequence[TaskRef] | None, task_name: str, version: str | None) -> bool:
    """True when a worker registered with ``tasks`` (None: every task) runs such a job.

    The rule of the stores' claim statements, in Python, for the views of work that
    waits for a worker."""
    return tasks is None or any(t.runs(task_name, version) for t in tasks)


def default_worker_id() -> str:
    """host-pid-random: readable in the job list, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def registered_tasks(registry: TaskRegistry) -> list[TaskRef]:
    """Every task and version ``registry`` holds: what a worker built on it claims."""
    return [TaskRef(t.name, v) for t in registry.all() for v in registry.versions(t.name)]


class WorkerState(StrEnum):
    #: Its last heartbeat is recent.
    ALIVE = "alive"
    #: No heartbeat for longer than a heartbeat's usual gap: it may be stuck or dead.
    SILENT = "silent"
    #: Stopped, or silent long enough for its jobs to be rescued.
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class WorkerCounts:
    """A worker's counts since it registered: attempts whose outcome it wrote
    (``processed``), of which failures (``failed``, retried or not).

    The worker keeps them in memory and its heartbeat (and its stop) writes them,
    so that no outcome statement pays for a write to the worker's row: the row
    lags by at most one heartbeat interval."""

    processed: int = 0
    failed: int = 0


def count_params(counts: WorkerCounts | None) -> dict[str, int | None]:
    """``counts`` as the stores' heartbeat parameters; None keeps the stored counts."""
    if counts is None:
        return {"processed": None, "failed": None}
    return {"processed": counts.processed, "failed": counts.failed}


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker's row, with the jobs it runs now."""

    id: str
    hostname: str
    pid: int
    queues: list[str] | None
    tasks: list[TaskRef] | None
    started_at: datetime
    heartbeat_at: datetime
    gone_at: datetime | None
    processed: int
    failed: int
    running_jobs: list[str] = field(default_factory=list)

    def state(self, now: datetime, silent_after: float, gone_after: float) -> WorkerState:
        """``gone`` once stopped or silent for ``gone_after`` seconds; ``silent`` after
        ``silent_after`` seconds without a heartbeat; else ``alive``."""
        if self.gone_at is not None:
            return WorkerState.GONE
        age = (now - self.heartbeat_at).total_seconds()
        if age > gone_after:
            return WorkerState.GONE
        if age > silent_after:
            return WorkerState.SILENT
        return WorkerState.ALIVE


@dataclass(frozen=True, slots=True)
class TaskBacklog:
    """Waiting jobs of one task (at one version, None: any) and whether a live worker
    can run them."""

    task_name: str
    version: str | None
    waiting: int
    runnable: bool


def task_backlogs(
    waiting: Iterable[tuple[str, str | None, int]], live_task_sets: Sequence[list[TaskRef] | None]
) -> list[TaskBacklog]:
    """Each (task, version, count) of waiting jobs, marked runnable when some live
    worker's task set serves it."""
    return [
        TaskBacklog(name, version, count, any(serves(s, name, version) for s in live_task_sets))
        for name, version, count in sorted(waiting, key=lambda w: (w[0], w[1] or ""))
    ]


def encode_tasks(tasks: Sequence[TaskRef] | None) -> list[list[str | None]] | None:
    """The JSON form both stores keep: ``[[name, version], ...]``, or None for any."""
    return None if tasks is None else [[t.name, t.version] for t in sorted(set(tasks))]


def decode_tasks(value: Sequence[Sequence[str | None]] | None) -> list[TaskRef] | None:
    if value is None:
        return None
    return [TaskRef(str(pair[0]), None if pair[1] is None else str(pair[1])) for pair in value]
