"""When a schedule fires: pure functions over cron and interval rules.

Everything here is a function of its arguments (no clock, no store), so that the
whole calendar logic - month ends, leap days, daylight-saving changes - is tested
without waiting. Times in and out are timezone-aware UTC.

Cron expressions are read in the schedule's IANA time zone. Daylight saving:

* a wall-clock time that does not exist (the spring-forward gap) fires once, at
  the first instant after the gap (02:30 becomes 03:30 daylight time);
* a wall-clock time that happens twice (the fall-back hour) fires once, the
  first time, unless the hour field is ``*``: then the expression describes a
  cadence ("every 15 minutes") and the repeated hour fires again, so that the
  cadence holds in real time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from uno.jobs.clock import as_utc
from uno.jobs.errors import ValidationError
from uno.jobs.schedules import Interval

if TYPE_CHECKING:
    from uno.jobs.schedules import Schedule

#: Larger than any daylight-saving shift the tz database knows (2 hours).
_MAX_SHIFT = timedelta(hours=3)
_ZERO = timedelta(0)
_ONE_MICROSECOND = timedelta(microseconds=1)

#: The longest interval accepted: occurrences must stay within datetime's range.
MAX_INTERVAL = timedelta(days=36_500)

#: The usual shorthands, spelled out as the five fields they stand for.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

#: Characters a five-field expression may contain (names are letters).
_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*/,\-]+$")
_MONTHS = frozenset(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)
_DAYS = frozenset(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
#: The names each field may use: none in minute, hour and day of month.
_NAMES: tuple[frozenset[str], ...] = (frozenset(), frozenset(), frozenset(), _MONTHS, _DAYS)


@dataclass(frozen=True, slots=True)
class CronRule:
    """A five-field cron expression read in an IANA time zone."""

    expression: str
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.timezone)

    @property
    def repeats_folded_hour(self) -> bool:
        """True when a repeated (fall-back) wall-clock hour fires in both passes."""
        return self.expression.split()[1] == "*"


@dataclass(frozen=True, slots=True)
class IntervalRule:
    """A fixed period counted from ``anchor``: occurrences are anchor + k x period, k >= 1.

    Counting from a fixed anchor, rather than from the last run, keeps the
    occurrences on one grid however late a scheduler wakes up: no drift.
    """

    period: timedelta
    anchor: datetime


Rule = CronRule | IntervalRule


# -- validation ---------------------------------------------------------------
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone of that name, or a ValidationError that says what is wrong."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"timezone must be an IANA zone name such as 'UTC', got {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"Unknown timezone {name!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def normalize_cron(expression: str) -> str:
    """Validate a cron expression and return it in canonical form (single spaces).

    Five fields: minute, hour, day of month, month, day of week. Ranges, steps,
    lists and names (``MON-FRI``, ``JAN``) are accepted, and so are the
    shorthands ``@hourly`` .. ``@yearly``; six or seven fields (seconds, years)
    are refused, as are expressions that can never fire (``0 0 30 2 *``).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError("cron_expression must be a non-empty string")
    text = " ".join(expression.split())
    text = MACROS.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValidationError(
            f"Invalid cron expression {expression!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    if not all(_FIELD_CHARS.match(f) for f in fields):
        raise ValidationError(
            f"Invalid cron expression {expression!r}: fields may hold only numbers, "
            "names, '*', ',', '-' and '/'"
        )
    for field, names in zip(fields, _NAMES, strict=True):
        unknown = [w for w in re.findall(r"[A-Za-z]+", field) if w.lower() not in names]
        if unknown:
            raise ValidationError(
                f"Invalid cron expression {expression!r}: unknown name {unknown[0]!r} "
                "(months are JAN-DEC, days SUN-SAT)"
            )
    try:
        valid = croniter.is_valid(text)
    except (CroniterError, ValueError, TypeError, KeyError):  # pragma: no cover - croniter quirks
        valid = False
    if not valid:
        raise ValidationError(f"Invalid cron expression {expression!r}")
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError, CroniterError):
        raise ValidationError(f"Cron expression {expression!r} never fires") from None
    return text


def parse_interval(value: Interval | dict[str, object]) -> Interval:
    """An Interval from an Interval or a dict of days/hours/minutes/seconds.

    Components must be whole numbers of zero or more, and the total must be
    longer than zero: a zero or negative interval would fire without end.
    """
    parts: dict[str, object]
    if isinstance(value, Interval):
        parts = dict(value.to_dict())
    elif isinstance(value, dict):
        unknown = set(value) - {"days", "hours", "minutes", "seconds"}
        if unknown:
            raise ValidationError(
                f"Unknown interval field(s) {sorted(unknown)}: use days, hours, minutes, seconds"
            )
        parts = {k: value.get(k) or 0 for k in ("days", "hours", "minutes", "seconds")}
    else:
        raise ValidationError(
            f"interval must be an object of days/hours/minutes/seconds, got {value!r}"
        )
    clean: dict[str, int] = {}
    for key, raw in parts.items():
        whole = isinstance(raw, int) or (isinstance(raw, float) and raw.is_integer())
        if isinstance(raw, bool) or not whole:
            raise ValidationError(f"interval {key} must be a whole number, got {raw!r}")
        assert isinstance(raw, int | float)
        if raw < 0:
            raise ValidationError(f"interval {key} must be zero or more, got {raw!r}")
        clean[key] = int(raw)
    interval = Interval(**clean)
    try:
        interval.validate()
        too_long = interval.as_timedelta() > MAX_INTERVAL
    except OverflowError:
        too_long = True
    if too_long:
        raise ValidationError(f"interval must be at most {MAX_INTERVAL.days} days")
    return interval


def interval_anchor(created_at: datetime) -> datetime:
    """The grid origin of an interval schedule: its creation time, to the second."""
    return as_utc(created_at).replace(microsecond=0)


def rule_of(schedule: Schedule) -> Rule:
    """The firing rule of a stored schedule."""
    if schedule.cron_expression:
        return CronRule(schedule.cron_expression, schedule.timezone or "UTC")
    if schedule.interval is None:
        raise ValidationError(
            f"Schedule {schedule.id} has neither a cron expression nor an interval"
        )
    if schedule.created_at is None:
        raise ValidationError(f"Interval schedule {schedule.id} has no created_at to count from")
    return IntervalRule(schedule.interval.as_timedelta(), interval_anchor(schedule.created_at))


def _as_rule(schedule_or_rule: Schedule | Rule) -> Rule:
    if isinstance(schedule_or_rule, CronRule | IntervalRule):
        return schedule_or_rule
    return rule_of(schedule_or_rule)


# -- occurrences ----------------------------------------------------------------
def next_occurrence(schedule_or_rule: Schedule | Rule, after: datetime) -> datetime:
    """The first occurrence strictly after ``after``."""
    rule = _as_rule(schedule_or_rule)
    after = as_utc(after)
    if isinstance(rule, IntervalRule):
        if after < rule.anchor + rule.period:
            return rule.anchor + rule.period
        steps = (after - rule.anchor) // rule.period + 1
        return rule.anchor + steps * rule.period
    return _cron_forward(rule, after)


def latest_occurrence(schedule_or_rule: Schedule | Rule, at_or_before: datetime) -> datetime | None:
    """The last occurrence at or before ``at_or_before``, or None when there is none.

    The scheduler fires this one after downtime: missed occurrences coalesce
    into a single run.
    """
    rule = _as_rule(schedule_or_rule)
    at = as_utc(at_or_before)
    if isinstance(rule, IntervalRule):
        if at < rule.anchor + rule.period:
            return None
        return rule.anchor + ((at - rule.anchor) // rule.period) * rule.period
    return _cron_backward(rule, at)


def _local_naive(when: datetime, zone: ZoneInfo) -> datetime:
    return when.astimezone(zone).replace(tzinfo=None)


def _transition_near(zone: ZoneInfo, when: datetime) -> bool:
    """True when the zone's UTC offset changes within a few hours of ``when``."""
    before = (when - _MAX_SHIFT).astimezone(zone).utcoffset()
    after = (when + _MAX_SHIFT).astimezone(zone).utcoffset()
    return before != after


def _instants(naive: datetime, rule: CronRule, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants a local wall-clock time stands for under the DST rules above."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local_naive(first, zone) != naive:
        # In the spring-forward gap: fold=0 reads it with the offset from before
        # the change, which lands just past the gap (02:30 -> 03:30 daylight).
        return [first]
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if second != first and rule.repeats_folded_hour:
        return [first, second]
    return [first]


def _cron_forward(rule: CronRule, after: datetime) -> datetime:
    zone = rule.zone
    if rule.timezone == "UTC":
        naive_next: datetime = croniter(rule.expression, after.replace(tzinfo=None)).get_next(
            datetime
        )
        return naive_next.replace(tzinfo=UTC)
    # Wall-clock order and real-time order differ only near an offset change, so
    # near one the search starts a few hours early and keeps the smallest instant.
    margin = _MAX_SHIFT if _transition_near(zone, after) else _ZERO
    candidates = croniter(rule.expression, _local_naive(after, zone) - margin)
    best: datetime | None = None
    limit: datetime | None = None
    while True:
        naive = candidates.get_next(datetime)
        if limit is not None and naive > limit:
            assert best is not None
            return best
        for instant in _instants(naive, rule, zone):
            if instant > after and (best is None or instant < best):
                best = instant
        if best is not None and limit is None:
            extra = _MAX_SHIFT if _transition_near(zone, best) else _ZERO
            limit = _local_naive(best, zone) + extra


def _cron_backward(rule: CronRule, at: datetime) -> datetime | None:
    zone = rule.zone
    if rule.timezone == "UTC":
        start = at.replace(tzinfo=None) + _ONE_MICROSECOND
        naive_prev: datetime = croniter(rule.expression, start).get_prev(datetime)
        return naive_prev.replace(tzinfo=UTC)
    margin = _MAX_SHIFT if _transition_near(zone, at) else _ZERO
    candidates = croniter(rule.expression, _local_naive(at, zone) + margin + _ONE_MICROSECOND)
    best: datetime | None = None
    limit: datetime | None = None
    while True:
        try:
            naive = candidates.get_prev(datetime)
        except CroniterBadDateError:  # pragma: no cover - nothing in the past
            return best
        if limit is not None and naive < limit:
            return best
        for instant in _instants(naive, rule, zone):
            if instant <= at and (best is None or instant > best):
                best = instant
        if best is not None and limit is None:
            extra = _MAX_SHIFT if _transition_near(zone, best) else _ZERO
            limit = _local_naive(best, zone) - extra
