"""Bulk retry and cancel: every job a filter matches, changed in bounded batches.

An operator who finds five thousand failed jobs of one queue retries them with
one request. The work is done server-side, ``limits.bulk_batch_size`` jobs per
statement (each a short transaction, so workers claim and complete jobs in
between), and at most ``limits.max_bulk_jobs`` per request: a filter matching
more leaves the rest for the next request, and the answer says so.

A batch picks only jobs the action applies to (retryable or cancellable ones), so
a job the action has changed never matches again and no job is changed twice in
one request; jobs that reach such a status meanwhile may be picked by a later
batch, which is what the operator asked for.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from uno.jobs.jobs import CANCELLABLE, RETRYABLE, Status
from uno.jobs.limits import check_text
from uno.jobs.queries import JobFilter
from uno.jobs.system import JobSystem


class BulkAction(enum.StrEnum):
    RETRY = "retry"
    CANCEL = "cancel"

    @property
    def applies_to(self) -> frozenset[Status]:
        """The statuses a job must be in for the action to change it."""
        return RETRYABLE if self is BulkAction.RETRY else CANCELLABLE


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """``matched``: jobs the filter matched that the action applies to, before any
    change; ``changed``: how many were changed (0 for a dry run); ``complete``:
    False when ``max_bulk_jobs`` stopped the request with jobs left to change (for
    a dry run: when it would)."""

    action: BulkAction
    matched: int
    changed: int
    complete: bool


def applicable(action: BulkAction, job_filter: JobFilter) -> JobFilter:
    """``job_filter`` narrowed to the jobs ``action`` applies to (its statuses, if it
    names any, intersected with them), one row per page: only its total is read."""
    wanted = action.applies_to
    if job_filter.statuses:
        statuses = tuple(s for s in job_filter.statuses if s in wanted)
    else:
        statuses = tuple(s for s in Status if s in wanted)
    return replace(job_filter, statuses=statuses, limit=1, offset=0)


async def count_applicable(system: JobSystem, action: BulkAction, job_filter: JobFilter) -> int:
    """How many jobs ``action`` would change now (0 when the filter's statuses exclude it)."""
    narrowed = applicable(action, job_filter)
    if not narrowed.statuses:
        return 0
    _, total = await system.list_jobs(narrowed)
    return total


async def run_bulk(
    system: JobSystem,
    action: BulkAction,
    job_filter: JobFilter,
    *,
    reason: str | None = None,
    dry_run: bool = False,
) -> BulkOutcome:
    """Apply ``action`` to the jobs ``job_filter`` matches (its page and order are
    ignored), batch by batch; with ``dry_run`` only count them."""
    limits = system.settings.limits
    if reason is not None:
        check_text(reason, "reason", limits.max_text_chars, allow_empty=True)
    matched = await count_applicable(system, action, job_filter)
    if dry_run or matched == 0:
        return BulkOutcome(action, matched, 0, complete=matched <= limits.max_bulk_jobs)
    narrowed = applicable(action, job_filter)
    changed = 0
    while changed < limits.max_bulk_jobs:
        batch = min(limits.bulk_batch_size, limits.max_bulk_jobs - changed)
        now = system.clock.now()
        if action is BulkAction.RETRY:
            done = await system.store.retry_matching(narrowed, batch, now)
        else:
            done = await system.store.cancel_matching(narrowed, reason, batch, now)
        changed += done
        if done < batch:
            return BulkOutcome(action, matched, changed, complete=True)
    left = await count_applicable(system, action, job_filter)
    return BulkOutcome(action, matched, changed, complete=left == 0)
