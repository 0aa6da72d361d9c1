"""Writing the outcomes of attempts: in batches, and one by one when a batch fails.

A batch costs one ``complete_jobs`` and one ``fail_jobs`` call whatever its size.
When one of them raises, the cause is either the store (unreachable: every
outcome stays with the worker for the next flush) or one outcome the store cannot
take (a value it refuses to encode). The batch is then written one outcome at a
time, and an outcome that fails on its own is replaced by a failure of its
attempt: one bad outcome neither holds back the others nor leaves its job running.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from uno.jobs.errors import StoreUnavailable
from uno.jobs.limits import Limits
from uno.jobs.store import Completion, Failure, Store
from uno.jobs.worker.execute import outcome_failure

log = logging.getLogger("uno.jobs.worker")

Outcome = Completion | Failure


@dataclass(slots=True)
class Written:
    """What became of a flush that reached the store."""

    #: Jobs the store no longer let this worker settle: rescued (or handed on) meanwhile.
    refused: list[str] = field(default_factory=list)
    #: Outcomes the store could not take, by job id, and the failure written instead.
    replaced: dict[str, Failure] = field(default_factory=dict)


class OutcomesPending(Exception):
    """The store could not be reached: these outcomes are still to be written.

    ``written`` tells what became of the outcomes of the same flush that were
    written before the store went away; ``cause`` is the store's error.
    """

    def __init__(
        self,
        completions: list[Completion],
        failures: list[Failure],
        written: Written,
        cause: BaseException,
    ) -> None:
        super().__init__(f"{len(completions) + len(failures)} outcome(s) not written: {cause}")
        self.completions = completions
        self.failures = failures
        self.written = written
        self.cause = cause


async def write_outcomes(
    store: Store,
    worker_id: str,
    completions: Sequence[Completion],
    failures: Sequence[Failure],
    now: datetime,
    limits: Limits,
) -> Written:
    """Write every outcome, or raise ``OutcomesPending`` with those still to write."""
    written = Written()
    completed = False
    try:
        if completions:
            written.refused += await store.complete_jobs(worker_id, completions)
        completed = True
        if failures:
            written.refused += await store.fail_jobs(worker_id, failures)
        return written
    except Exception as batch_error:
        pending: list[Outcome] = [*([] if completed else completions), *failures]
        if isinstance(batch_error, StoreUnavailable):
            raise _still_pending(pending, written, batch_error) from batch_error
        log.warning(
            "worker %s: a batch of %d outcome(s) was refused (%s: %s); writing them one by one",
            worker_id,
            len(pending),
            type(batch_error).__name__,
            batch_error,
        )
    for index, outcome in enumerate(pending):
        try:
            written.refused += await _write_one(store, worker_id, outcome)
            continue
        except StoreUnavailable as exc:
            raise _still_pending(pending[index:], written, exc) from exc
        except Exception as own_error:
            replacement = outcome_failure(outcome.job_id, own_error, now, limits)
            problem = own_error
        try:
            written.refused += await store.fail_jobs(worker_id, [replacement])
        except Exception as exc:
            raise _still_pending(pending[index:], written, exc) from exc
        written.replaced[outcome.job_id] = replacement
        log.error(
            "worker %s: the outcome of job %s could not be written (%s: %s); "
            "the attempt is recorded as failed",
            worker_id,
            outcome.job_id,
            type(problem).__name__,
            problem,
        )
    return written


async def _write_one(store: Store, worker_id: str, outcome: Outcome) -> list[str]:
    if isinstance(outcome, Completion):
        return await store.complete_jobs(worker_id, [outcome])
    return await store.fail_jobs(worker_id, [outcome])


def _still_pending(
    pending: Sequence[Outcome], written: Written, cause: BaseException
) -> OutcomesPending:
    return OutcomesPending(
        [o for o in pending if isinstance(o, Completion)],
        [o for o in pending if isinstance(o, Failure)],
        written,
        cause,
    )
