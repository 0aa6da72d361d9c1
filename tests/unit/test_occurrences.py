"""When schedules fire: the seed's cron examples, intervals, month ends, leap days, DST."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from uno.jobs.errors import ValidationError
from uno.jobs.scheduler.occurrences import (
    CronRule,
    IntervalRule,
    latest_occurrence,
    next_occurrence,
    normalize_cron,
    parse_interval,
    rule_of,
)
from uno.jobs.schedules import Interval, Schedule

NY = "America/New_York"
NY_ZONE = ZoneInfo(NY)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def ny(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=NY_ZONE, fold=fold).astimezone(UTC)  # type: ignore[misc]


def chain(rule: CronRule | IntervalRule, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` occurrences after ``after``."""
    found = []
    for _ in range(count):
        after = next_occurrence(rule, after)
        found.append(after)
    return found


# -- the seed's cron examples (UTC) ---------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 8 * * *", utc(2026, 1, 1, 7, 59), utc(2026, 1, 1, 8)),
        ("0 8 * * *", utc(2026, 1, 1, 8), utc(2026, 1, 2, 8)),
        # 2026-01-02 is a Friday: the next weekday 09:00 is Monday the 5th.
        ("0 9 * * 1-5", utc(2026, 1, 2, 9, 0, 1), utc(2026, 1, 5, 9)),
        ("0 9 * * MON-FRI", utc(2026, 1, 3, 12), utc(2026, 1, 5, 9)),
        ("0 0 1 * *", utc(2026, 1, 15), utc(2026, 2, 1)),
        ("0 0 * * *", utc(2026, 6, 14, 23, 59, 59), utc(2026, 6, 15)),
        ("0 0 1 JAN *", utc(2026, 1, 1), utc(2027, 1, 1)),
        ("*/15 9-17 * * *", utc(2026, 1, 1, 17, 50), utc(2026, 1, 2, 9)),
        ("0,30 * * * *", utc(2026, 1, 1, 10, 10), utc(2026, 1, 1, 10, 30)),
    ],
)
def test_cron_next_occurrence(expression: str, after: datetime, expected: datetime) -> None:
    assert next_occurrence(CronRule(expression), after) == expected


def test_cron_occurrences_cross_a_month_boundary() -> None:
    rule = CronRule("0 0 * * *")
    assert chain(rule, utc(2026, 1, 30, 12), 3) == [
        utc(2026, 1, 31),
        utc(2026, 2, 1),
        utc(2026, 2, 2),
    ]
    assert chain(CronRule("0 0 1 * *"), utc(2026, 11, 15), 3) == [
        utc(2026, 12, 1),
        utc(2027, 1, 1),
        utc(2027, 2, 1),
    ]


def test_cron_on_a_leap_day() -> None:
    assert chain(CronRule("0 12 * * *"), utc(2028, 2, 28, 13), 2) == [
        utc(2028, 2, 29, 12),
        utc(2028, 3, 1, 12),
    ]
    # The 29th of February exists only in leap years.
    assert next_occurrence(CronRule("0 0 29 2 *"), utc(2026, 1, 1)) == utc(2028, 2, 29)
    assert latest_occurrence(CronRule("0 0 29 2 *"), utc(2031, 1, 1)) == utc(2028, 2, 29)


def test_next_is_strictly_after_and_latest_is_inclusive() -> None:
    rule = CronRule("0 8 * * *")
    assert next_occurrence(rule, utc(2026, 1, 1, 8)) == utc(2026, 1, 2, 8)
    assert latest_occurrence(rule, utc(2026, 1, 1, 8)) == utc(2026, 1, 1, 8)
    assert latest_occurrence(rule, utc(2026, 1, 1, 7, 59)) == utc(2025, 12, 31, 8)


def test_latest_occurrence_coalesces_downtime() -> None:
    """Down from 10:05 to 15:20: of the five missed hourly runs, only 15:00 is fired."""
    rule = CronRule("0 * * * *")
    assert latest_occurrence(rule, utc(2026, 1, 1, 15, 20)) == utc(2026, 1, 1, 15)
    assert next_occurrence(rule, utc(2026, 1, 1, 15, 20)) == utc(2026, 1, 1, 16)


# -- time zones and daylight saving ---------------------------------------------


def test_cron_in_a_time_zone_follows_local_time_across_dst() -> None:
    rule = CronRule("0 8 * * *", NY)
    # 08:00 New York is 13:00 UTC in winter and 12:00 UTC in summer.
    assert chain(rule, utc(2026, 3, 7, 0), 2) == [utc(2026, 3, 7, 13), utc(2026, 3, 8, 12)]
    assert chain(rule, utc(2026, 10, 31, 0), 2) == [utc(2026, 10, 31, 12), utc(2026, 11, 1, 13)]


def test_spring_forward_gap_runs_once_just_after_the_gap() -> None:
    """2026-03-08: New York clocks jump from 02:00 to 03:00; 02:30 does not exist."""
    rule = CronRule("30 2 * * *", NY)
    assert chain(rule, utc(2026, 3, 7, 12), 3) == [
        ny(2026, 3, 8, 3, 30),  # 07:30 UTC: once, right after the gap
        ny(2026, 3, 9, 2, 30),
        ny(2026, 3, 10, 2, 30),
    ]
    assert latest_occurrence(rule, ny(2026, 3, 8, 12)) == ny(2026, 3, 8, 3, 30)
    assert latest_occurrence(rule, ny(2026, 3, 8, 3, 29)) == ny(2026, 3, 7, 2, 30)


def test_spring_forward_keeps_a_cadence_without_duplicates() -> None:
    rule = CronRule("*/30 * * * *", NY)
    assert chain(rule, ny(2026, 3, 8, 1, 0), 4) == [
        ny(2026, 3, 8, 1, 30),
        ny(2026, 3, 8, 3, 0),  # 02:00 and 02:30 land on 03:00 and 03:30 and merge
        ny(2026, 3, 8, 3, 30),
        ny(2026, 3, 8, 4, 0),
    ]


def test_fall_back_fixed_time_runs_once() -> None:
    """2026-11-01: New York clocks go from 02:00 back to 01:00; 01:30 happens twice."""
    rule = CronRule("30 1 * * *", NY)
    first = ny(2026, 11, 1, 1, 30, fold=0)
    assert chain(rule, utc(2026, 10, 30, 12), 3) == [
        ny(2026, 10, 31, 1, 30),
        first,  # 05:30 UTC; the second 01:30 (06:30 UTC) is not a new occurrence
        ny(2026, 11, 2, 1, 30),
    ]
    second = ny(2026, 11, 1, 1, 30, fold=1)
    assert latest_occurrence(rule, second + timedelta(minutes=5)) == first


def test_fall_back_cadence_runs_in_both_passes_of_the_repeated_hour() -> None:
    rule = CronRule("*/30 * * * *", NY)
    got = chain(rule, ny(2026, 11, 1, 0, 45), 6)
    assert got == [
        ny(2026, 11, 1, 1, 0, fold=0),
        ny(2026, 11, 1, 1, 30, fold=0),
        ny(2026, 11, 1, 1, 0, fold=1),
        ny(2026, 11, 1, 1, 30, fold=1),
        ny(2026, 11, 1, 2, 0),
        ny(2026, 11, 1, 2, 30),
    ]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(got))
    for occurrence in got:
        assert latest_occurrence(rule, occurrence) == occurrence
        assert latest_occurrence(rule, occurrence + timedelta(minutes=29)) == occurrence


def transitions(zone: str, year: int) -> list[datetime]:
    """Midnights (UTC) starting the days in which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)
    days = [utc(year, 1, 1) + timedelta(days=d) for d in range(366)]
    return [
        a
        for a, b in itertools.pairwise(days)
        if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset()
    ]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])
@pytest.mark.parametrize("expression", ["*/20 * * * *", "30 2 * * *", "15 1,2,3 * * *"])
def test_next_and_latest_agree_around_transitions(zone: str, expression: str) -> None:
    """Around each DST change: occurrences strictly increase, and latest(next(t)) == next(t)."""
    rule = CronRule(expression, zone)
    changes = transitions(zone, 2026)
    assert len(changes) == 2
    for change in changes:
        after, end = change - timedelta(hours=6), change + timedelta(hours=30)
        while after < end:
            found = next_occurrence(rule, after)
            assert found > after
            assert latest_occurrence(rule, found) == found
            before = latest_occurrence(rule, found - timedelta(microseconds=1))
            assert before is not None
            assert before <= after
            after = found


# -- intervals ------------------------------------------------------------------


def test_interval_is_anchored_and_does_not_drift() -> None:
    anchor = utc(2026, 1, 1, 10)
    rule = IntervalRule(timedelta(minutes=15), anchor)
    assert next_occurrence(rule, anchor) == utc(2026, 1, 1, 10, 15)
    # A scheduler that wakes late still lands on the grid.
    assert next_occurrence(rule, utc(2026, 1, 1, 11, 7, 33)) == utc(2026, 1, 1, 11, 15)
    assert latest_occurrence(rule, utc(2026, 1, 1, 11, 7, 33)) == utc(2026, 1, 1, 11)
    assert latest_occurrence(rule, utc(2026, 1, 1, 11)) == utc(2026, 1, 1, 11)
    assert latest_occurrence(rule, utc(2026, 1, 1, 10, 14)) is None
    far = next_occurrence(rule, utc(2027, 1, 1, 0, 0, 1))
    assert far == utc(2027, 1, 1, 0, 15)


def test_interval_across_month_boundary_and_leap_day() -> None:
    rule = IntervalRule(timedelta(days=1), utc(2028, 2, 27, 6))
    assert chain(rule, utc(2028, 2, 27, 6), 3) == [
        utc(2028, 2, 28, 6),
        utc(2028, 2, 29, 6),
        utc(2028, 3, 1, 6),
    ]


def test_interval_counts_real_time_not_wall_clock() -> None:
    """Intervals ignore time zones: 24 hours stay 24 hours across a DST change."""
    rule = IntervalRule(timedelta(hours=24), ny(2026, 3, 7, 9))
    assert next_occurrence(rule, ny(2026, 3, 7, 9)) == ny(2026, 3, 8, 10)


def test_rule_of_a_schedule_anchors_intervals_at_created_at_to_the_second() -> None:
    created = datetime(2026, 1, 1, 10, 0, 0, 654321, tzinfo=UTC)
    schedule = Schedule(name="s", task_name="t", interval=Interval(seconds=10), created_at=created)
    assert rule_of(schedule) == IntervalRule(timedelta(seconds=10), utc(2026, 1, 1, 10))
    assert next_occurrence(schedule, created) == utc(2026, 1, 1, 10, 0, 10)
    cron = Schedule(name="c", task_name="t", cron_expression="0 8 * * *", timezone=NY)
    assert rule_of(cron) == CronRule("0 8 * * *", NY)


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("0 8 * * *", "0 8 * * *"),
        ("  0   9 * *   1-5 ", "0 9 * * 1-5"),
        ("0 9 * * MON-FRI", "0 9 * * MON-FRI"),
        ("0 0 1 jan,jul *", "0 0 1 jan,jul *"),
        ("*/5 1-6/2 * * *", "*/5 1-6/2 * * *"),
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_normalize_cron_accepts(given: str, canonical: str) -> None:
    assert normalize_cron(given) == canonical


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * * * *", "expected 5 fields"),
        ("0 0 0 * * * 2026", "expected 5 fields"),
        ("0 8 * *", "expected 5 fields"),
        ("", "non-empty"),
        ("61 * * * *", "Invalid cron expression"),
        ("0 25 * * *", "Invalid cron expression"),
        ("0 0 * * FUNDAY", "unknown name 'FUNDAY'"),
        ("0 0 L * *", "unknown name 'L'"),
        ("0 0 * JAN MONDAY", "unknown name 'MONDAY'"),
        ("0 0 1W * *", "unknown name 'W'"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 ? * *", "fields may hold only"),
        ("not a cron at all", "Invalid cron expression"),
    ],
)
def test_normalize_cron_refuses(expression: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        normalize_cron(expression)


def test_parse_interval() -> None:
    assert parse_interval({"hours": 1, "minutes": 0, "seconds": 0, "days": 0}) == Interval(hours=1)
    assert parse_interval({"minutes": 15}) == Interval(minutes=15)
    assert parse_interval(Interval(days=1)) == Interval(days=1)
    assert parse_interval({"seconds": 90.0}) == Interval(seconds=90)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "longer than zero"),
        ({"hours": 0, "minutes": 0}, "longer than zero"),
        (Interval(), "longer than zero"),
        ({"minutes": -5}, "zero or more"),
        ({"hours": 1, "minutes": -30}, "zero or more"),
        ({"seconds": 1.5}, "whole number"),
        ({"seconds": "10"}, "whole number"),
        ({"weeks": 1}, "Unknown interval field"),
        ("1h", "must be an object"),
    ],
)
def test_parse_interval_refuses(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_interval(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [{"days": 36_501}, {"days": 10**12}])
def test_parse_interval_refuses_absurdly_long(value: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="at most"):
        parse_interval(value)  # type: ignore[arg-type]
