"""JobContext: what a running task may know and do about its own job.

A task opts in by declaring a parameter annotated ``JobContext``; the worker
passes one in, by that parameter's name. It gives the job's id and attempt
number, tells whether the job was cancelled while running (a thread task checks
``cancelled`` between steps and returns early), and reports progress, written to
the store at most once per ``PROGRESS_INTERVAL`` (the latest report wins; a
report in between is kept and written when the interval is over).

A process-pool task gets a context that carries the id and attempt only: its
``cancelled`` is always False (a cancelled process task is terminated) and
``report_progress`` does nothing.
"""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

#: Shortest time between two progress writes of one job.
PROGRESS_INTERVAL = 0.5

#: ``report(fraction, message)``: hands a progress report to the worker (any thread).
ProgressSink = Callable[[float | None, str | None], None]


class JobContext:
    """The running job, seen from its task."""

    __slots__ = ("_flag", "_sink", "attempt", "job_id")

    def __init__(
        self,
        job_id: str,
        attempt: int,
        flag: threading.Event | None = None,
        sink: ProgressSink | None = None,
    ) -> None:
        self.job_id = job_id
        #: 1 for the first attempt, then one more per retry.
        self.attempt = attempt
        self._flag = flag
        self._sink = sink

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled while running: stop and return soon."""
        return self._flag is not None and self._flag.is_set()

    def report_progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Say how far the job is: ``fraction`` in [0, 1] and/or a short message.

        Checked at once (``ValidationError`` for a fraction out of range); written
        throttled, shown as ``progress`` in the job view."""
        from uno.jobs.attempts import check_progress

        fraction, message = check_progress(fraction, message)
        if self._sink is not None:
            self._sink(fraction, message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Crossing to a child process: the id and attempt only."""
        return (JobContext, (self.job_id, self.attempt))


@cache
def context_parameter(func: Callable[..., Any]) -> str | None:
    """The name of ``func``'s parameter annotated ``JobContext``, if any."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an annotation that does not resolve: read them as text
        hints = {}
    for name, parameter in parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if annotation is JobContext or annotation in ("JobContext", "uno.jobs.JobContext"):
            return name
    return None
