"""The stores' SQL names the state machine's statuses only through the domain's sets.

The query files hold no status literal at all: every status and status set comes
from a slot filled from ``jobs.py`` at load time. The schemas (which are history,
written once per migration) may only list the domain's sets, in the order the
slots render them, so that the planners match the queries' conditions to the
partial indexes.
"""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from helpers import EPOCH
from uno.jobs.jobs import (
    CANCELLABLE,
    CANCELLABLE_UNSTARTED,
    FAILURE_ENDS,
    FINISHED,
    HELD,
    RETRYABLE,
    WAITING,
    JobError,
    Status,
)
from uno.jobs.queries import FAILED_STATUSES
from uno.jobs.schedules import ScheduleStatus
from uno.jobs.store.base import Failure
from uno.jobs.store.postgres.store import _QUERIES as POSTGRES_QUERIES
from uno.jobs.store.sqlfile import read_sql, render_queries
from uno.jobs.store.sqlite.store import Q as SQLITE_QUERIES
from uno.jobs.store.statuses import STATUS_SET_SLOTS, STATUS_SLOTS, sql_statuses

PACKAGES = ["uno.jobs.store.sqlite", "uno.jobs.store.postgres"]
RENDERED = {"uno.jobs.store.sqlite": SQLITE_QUERIES, "uno.jobs.store.postgres": POSTGRES_QUERIES}

_NAMES = "|".join(s.value for s in Status)
_SCHEDULE_NAMES = "|".join(s.value for s in ScheduleStatus)
#: A quoted job or schedule status name, anywhere.
QUOTED_STATUS = re.compile(rf"'({_NAMES}|{_SCHEDULE_NAMES})'")
#: A parenthesised list of quoted status names.
STATUS_LIST = re.compile(rf"\(\s*'(?:{_NAMES})'(?:\s*,\s*'(?:{_NAMES})')*\s*\)")

DOMAIN_SETS = [
    WAITING,
    HELD,
    FINISHED,
    CANCELLABLE,
    CANCELLABLE_UNSTARTED,
    RETRYABLE,
    FAILED_STATUSES,
]


def schema_texts(package: str) -> list[str]:
    folder = files(package).joinpath("migrations")
    scripts = [e.read_text(encoding="utf-8") for e in folder.iterdir() if e.name.endswith(".sql")]
    return [read_sql(package, "schema.sql"), *scripts]


@pytest.mark.parametrize("package", PACKAGES)
def test_query_files_hold_no_status_literal(package: str) -> None:
    raw = read_sql(package, "queries.sql")
    assert QUOTED_STATUS.findall(raw) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_rendered_status_list_is_a_domain_set(package: str) -> None:
    rendered = "\n".join(RENDERED[package].values())
    assert "{{" not in rendered
    lists = set(STATUS_LIST.findall(rendered))
    assert lists == {sql_statuses(s) for s in DOMAIN_SETS}
    # Every slot rendering is used by the store: the sets above are all of them.
    assert set(STATUS_SET_SLOTS.values()) == lists


@pytest.mark.parametrize("package", PACKAGES)
def test_schema_status_lists_are_domain_sets_as_the_slots_render_them(package: str) -> None:
    """A partial index's condition must read as the queries' does, or the planner
    would not see that a query's condition implies it."""
    allowed = {sql_statuses(s) for s in DOMAIN_SETS} | {sql_statuses(set(Status))}
    normalised = {
        re.sub(r"\s+", " ", found).replace("( ", "(").replace(" )", ")")
        for text in schema_texts(package)
        for found in STATUS_LIST.findall(text)
    }
    assert normalised
    assert normalised <= allowed


def test_sets_render_in_declaration_order() -> None:
    assert STATUS_SET_SLOTS["waiting"] == "('pending', 'retrying')"
    assert STATUS_SET_SLOTS["finished"] == "('completed', 'failed', 'cancelled', 'timeout')"
    assert STATUS_SLOTS["running"] == "'running'"


def test_render_fills_slots_and_refuses_unknown_or_unused_ones() -> None:
    text = "-- name: q\nSELECT 1 WHERE status IN {{waiting}} AND s = {{ running }}"
    rendered = render_queries(text, {"waiting": "('a')"}, optional={"running": "'r'", "x": "y"})
    assert rendered.endswith("status IN ('a') AND s = 'r'")
    with pytest.raises(ValueError, match="Unknown slot"):
        render_queries(text, {"waiting": "('a')"})
    with pytest.raises(ValueError, match=r"never used.*held"):
        render_queries(text, {"waiting": "('a')", "held": "('b')"}, optional={"running": "'r'"})


def test_a_failure_ends_only_in_a_failure_status() -> None:
    error = JobError("E", "x")
    for status in FAILURE_ENDS:
        assert Failure("j", error, EPOCH, status).status is status
    assert Failure("j", error, EPOCH, Status.RETRYING, retry_at=EPOCH).retry_at == EPOCH
    for status in set(Status) - FAILURE_ENDS:
        with pytest.raises(ValueError, match="failed attempt ends"):
            Failure("j", error, EPOCH, status)
