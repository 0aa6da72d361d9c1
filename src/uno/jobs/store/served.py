"""The task list of a worker's claims, encoded once.

Task-aware claiming passes the worker's tasks with every claim (``fetch_jobs``),
and a worker passes the same list every time: encoding it for the database on
every claim (sorting the refs, adapting arrays or writing JSON) would cost the
claim more than the filter itself. ``EncodedTasks`` keeps the encoding of the
last list it saw and encodes again only when the list differs (a copy is kept,
so a caller that changes its list in place is seen).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from uno.jobs.workers import TaskRef

T = TypeVar("T")


class EncodedTasks(Generic[T]):
    """``encode(tasks)``, remembered for the last ``tasks`` seen."""

    __slots__ = ("_encode", "_encoded", "_tasks")

    def __init__(self, encode: Callable[[Sequence[TaskRef]], T]) -> None:
        self._encode = encode
        self._tasks: list[TaskRef] | None = None
        self._encoded: T | None = None

    def __call__(self, tasks: Sequence[TaskRef]) -> T:
        # Comparing a list with the copy of itself compares the same objects: no
        # TaskRef.__eq__ runs, the check costs well under a microsecond.
        given = tasks if type(tasks) is list else list(tasks)
        if self._tasks is None or given != self._tasks:
            self._encoded = self._encode(given)
            self._tasks = list(given)
        return self._encoded  # type: ignore[return-value]  # set together with _tasks
