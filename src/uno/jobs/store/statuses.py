"""The state machine's statuses as SQL text: the slots of the stores' query files.

Both stores' ``queries.sql`` name statuses only through these slots
(``{{waiting}}`` for a set, ``{{running}}`` for one status), so the status sets
their SQL tests against are the domain's (``uno.jobs.jobs``), written once. A
set is rendered as a parenthesised list in the order ``Status`` declares its
members, the order the schemas' partial indexes use, so the planners still
recognise those indexes' conditions.
"""

from __future__ import annotations

from collections.abc import Set

from uno.jobs.jobs import CANCELLABLE, FINISHED, HELD, RETRYABLE, WAITING, Status
from uno.jobs.queries import FAILED_STATUSES
from uno.jobs.schedules import ScheduleStatus


def sql_status(status: Status | ScheduleStatus) -> str:
    """One status as a SQL string literal."""
    return f"'{status.value}'"


def sql_statuses(statuses: Set[Status]) -> str:
    """A set of statuses as a SQL list, for ``status IN ...``."""
    return "(" + ", ".join(sql_status(s) for s in Status if s in statuses) + ")"


#: The domain's status sets, each one a slot every query file must use.
STATUS_SET_SLOTS: dict[str, str] = {
    "waiting": sql_statuses(WAITING),
    "held": sql_statuses(HELD),
    "finished": sql_statuses(FINISHED),
    "cancellable": sql_statuses(CANCELLABLE),
    "retryable": sql_statuses(RETRYABLE),
    # The jobs counted as failed, in the statistics and the per-minute history.
    "failures": sql_statuses(FAILED_STATUSES),
}

#: One slot per status, named after it, and per schedule status, ``schedule_`` and its
#: name (``{{schedule_active}}``): a file uses those it needs.
STATUS_SLOTS: dict[str, str] = {
    **{status.value: sql_status(status) for status in Status},
    **{f"schedule_{status.value}": sql_status(status) for status in ScheduleStatus},
}
