"""The shared limits: the check helpers, and the domain applying them to every input.

``build_job`` writes nothing, so the job checks need no store; schedules are
checked on every backend in ``tests/stores/test_schedule_manager.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import EPOCH, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Status, validate_json
from uno.jobs.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_count,
    check_job_id,
    check_json,
    check_name,
    check_seconds,
    check_text,
    clip_text,
)
from uno.jobs.queries import JobFilter, ScheduleFilter
from uno.jobs.retry import RetryPolicy
from uno.jobs.settings import Settings
from uno.jobs.store.base import Store
from uno.jobs.system import JobRequest, JobSystem
from uno.jobs.tasks import Task, TaskRegistry
from uno.jobs.worker import Worker

NUL, SURROGATE = "a\x00b", "a\ud800b"


def nested(depth: int, leaf: Any = 1) -> Any:
    """``[[...[leaf]...]]``: ``depth`` lists, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# -- the check helpers ------------------------------------------------------------


@pytest.mark.parametrize("bad", [NUL, SURROGATE, "\udfff", "", 5, None, b"bytes"])
def test_check_text_refuses_what_no_store_can_hold(bad: object) -> None:
    with pytest.raises(ValidationError):
        check_text(bad, "field", 100)


def test_check_text_bounds_the_length_and_keeps_good_text() -> None:
    assert check_text("é" * 10 + "\U0001f600", "field", 11) == "é" * 10 + "\U0001f600"
    assert check_text("", "field", 5, allow_empty=True) == ""
    with pytest.raises(ValidationError, match="longer than 10"):
        check_text("x" * 11, "field", 10)
    with pytest.raises(ValidationError, match="longer than 255"):
        check_name("x" * 256, "queue_name")


@pytest.mark.parametrize("good", ["custom-job-id", "a.b_c~d:e@f+g=h", "X" * 255])
def test_check_job_id_accepts_url_safe_ids(good: str) -> None:
    assert check_job_id(good) == good


@pytest.mark.parametrize(
    "bad", ["a/b", "a b", "a?b", "a#b", "a%2Fb", ".", "..", "é", NUL, "x" * 256]
)
def test_check_job_id_refuses_ids_unreachable_in_a_url(bad: str) -> None:
    with pytest.raises(ValidationError, match="job_id"):
        check_job_id(bad)


def test_check_json_refuses_depth_beyond_the_limit_at_any_depth() -> None:
    check_json(nested(3), "args", max_depth=3, max_bytes=1000)
    with pytest.raises(ValidationError, match="deeper than 3"):
        check_json(nested(4), "args", max_depth=3, max_bytes=1000)
    # Far past the interpreter's recursion limit: refused, not a RecursionError.
    with pytest.raises(ValidationError, match="deeper than 64"):
        check_json(nested(200_000), "args", 64, 10**9)


def test_check_json_counts_objects_as_levels_too() -> None:
    value: Any = 1
    for _ in range(5):
        value = {"k": [value]}
    check_json(value, "kwargs", max_depth=10, max_bytes=1000)
    with pytest.raises(ValidationError, match="deeper than 9"):
        check_json(value, "kwargs", max_depth=9, max_bytes=1000)


@pytest.mark.parametrize(
    "bad",
    [
        [NUL],
        [SURROGATE],
        {NUL: 1},
        {SURROGATE: 1},
        {1: "int key"},
        [float("nan")],
        [float("inf")],
        [{"deep": [b"bytes"]}],
        [object()],
        [{1, 2}],
    ],
)
def test_check_json_refuses_values_a_store_cannot_round_trip(bad: Any) -> None:
    with pytest.raises(ValidationError):
        check_json(bad, "args", 64, 10_000)


def test_check_json_bounds_the_encoded_size() -> None:
    check_json(["x" * 90], "metadata", 64, 100)
    with pytest.raises(ValidationError, match="bytes as JSON"):
        check_json(["x" * 99], "metadata", 64, 100)
    # Multi-byte text counts in bytes, not characters.
    with pytest.raises(ValidationError, match="bytes as JSON"):
        check_json(["é" * 60], "metadata", 64, 100)
    with pytest.raises(ValidationError, match="larger than"):
        check_json([1] * 10_000, "metadata", 64, 100)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (2.5, True), (10, True), (10.5, False), (-1, False), (float("nan"), False),
     (float("inf"), False), (True, False), ("5", False), (None, False)],
)  # fmt: skip
def test_check_seconds(value: object, ok: bool) -> None:
    if ok:
        assert check_seconds(value, "delay", 10) == float(value)  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError, match="delay"):
            check_seconds(value, "delay", 10)


def test_check_seconds_positive_refuses_zero_and_check_count_wants_whole_numbers() -> None:
    with pytest.raises(ValidationError):
        check_seconds(0, "timeout", 10, positive=True)
    assert check_count(10, "max_retries", 10) == 10
    for bad in (11, -1, 1.5, True, "3"):
        with pytest.raises(ValidationError, match="max_retries"):
            check_count(bad, "max_retries", 10)


def test_clip_text_cuts_and_makes_storable() -> None:
    clipped = clip_text("x" * 100, 50)
    assert len(clipped) <= 50 and clipped.endswith("cut]")
    assert clip_text(NUL + SURROGATE, 100) == "a\\x00ba\ufffdb"
    assert clip_text("fine", 100) == "fine"


def test_limits_read_from_the_environment() -> None:
    limits = Limits.from_env({"UNO_JOBS_MAX_JSON_DEPTH": "8", "UNO_JOBS_MAX_RETRY_DELAY": "2.5"})
    assert (limits.max_json_depth, limits.max_retry_delay) == (8, 2.5)
    assert limits.max_tags == DEFAULT_LIMITS.max_tags
    for bad in ("0", "-1", "nan", "lots"):
        with pytest.raises(ValueError, match="UNO_JOBS_MAX_TAGS"):
            Limits.from_env({"UNO_JOBS_MAX_TAGS": bad})


# -- retry delays never overflow ----------------------------------------------------


@pytest.mark.parametrize("retry_number", [1_100, 10_000, 10**6, 10**400])
def test_backoff_of_a_huge_retry_number_is_capped_not_an_overflow(retry_number: int) -> None:
    policy = RetryPolicy(delay=60, backoff=True, max_delay=3600)
    assert policy.delay_for(retry_number) == 3600


def test_a_delay_never_exceeds_the_retry_delay_limit() -> None:
    ceiling = DEFAULT_LIMITS.max_retry_delay
    assert RetryPolicy(delay=1e12).delay_for(1) == ceiling
    assert RetryPolicy(delay=60, backoff=True, max_delay=1e300).delay_for(5_000) == ceiling
    assert RetryPolicy(delay=ceiling, jitter=0.5).delay_for(1) <= ceiling
    assert RetryPolicy(delay=10, ceiling=5).delay_for(1) == 5
    assert RetryPolicy(delay=10, backoff=True, factor=0.5).delay_for(10**6) == 0
    assert RetryPolicy(delay=0, backoff=True).delay_for(10**6) == 0


# -- tasks obey the default limits ----------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"retry_delay": DEFAULT_LIMITS.max_retry_delay * 2},
        {"retry_delay": 1e12},
        {"timeout": DEFAULT_LIMITS.max_timeout + 1},
        {"max_retries": DEFAULT_LIMITS.max_retries + 1},
        {"max_retries": 2.5},
        {"queue": NUL},
        {"version": SURROGATE},
        {"name": "x" * 256},
    ],
)
def test_a_task_asking_more_than_a_job_may_is_refused(bad: dict[str, Any]) -> None:
    options: dict[str, Any] = {"name": "t", "func": lambda: None, **bad}
    with pytest.raises(ValidationError):
        TaskRegistry().register(Task(**options))


# -- jobs ----------------------------------------------------------------------------


@pytest.fixture
def system() -> JobSystem:
    limits = Limits(max_json_depth=8, max_payload_bytes=1000, max_tags=3)
    system = JobSystem(
        "sqlite:///unused.db", settings=Settings(limits=limits), clock=ManualClock(EPOCH)
    )

    @system.task(max_retries=2, retry_delay=5)
    def echo(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never run here
        return args

    return system


def build(system: JobSystem, **fields: Any) -> Any:
    fields.setdefault("task_name", "echo")
    return system.build_job(JobRequest(**fields))


def test_a_plain_request_builds() -> None:
    system = JobSystem("sqlite:///unused.db", clock=ManualClock(EPOCH))
    system.task(lambda: None, name="echo")  # type: ignore[call-overload]
    job = build(system, args=[1, "x", {"a": [None]}], tags=["a"], job_id="custom-job-id")
    assert (job.id, job.args, job.tags) == ("custom-job-id", [1, "x", {"a": [None]}], ["a"])


@pytest.mark.parametrize(
    "fields",
    [
        # 1: retry, timeout and scheduling bounds.
        {"retry_delay": 1e12},
        {"retry_delay": DEFAULT_LIMITS.max_retry_delay + 1},
        {"timeout": DEFAULT_LIMITS.max_timeout + 1},
        {"max_retries": DEFAULT_LIMITS.max_retries + 1},
        {"delay": DEFAULT_LIMITS.max_schedule_ahead + 1},
        {"delay": float("inf")},
        {"scheduled_at": EPOCH + timedelta(seconds=DEFAULT_LIMITS.max_schedule_ahead + 1)},
        {"scheduled_at": "tomorrow"},
        # 2: JSON depth and size, by the system's own limits.
        {"args": nested(9)},
        {"kwargs": {"k": nested(8)}},
        {"metadata": {"k": "x" * 2000}},
        # 9: strings in every field.
        {"args": [NUL]},
        {"args": [SURROGATE]},
        {"kwargs": {NUL: 1}},
        {"metadata": {"k": SURROGATE}},
        {"tags": [NUL]},
        {"tags": [SURROGATE]},
        {"tags": ["a", "b", "c", "d"]},
        {"tags": "abc"},
        {"queue_name": NUL},
        {"queue_name": SURROGATE},
        {"queue_name": "q" * 256},
        {"job_id": "a/b"},
        {"job_id": NUL},
        {"job_id": ""},
        {"task_name": NUL},
        {"task_name": SURROGATE},
        {"version": NUL},
        {"args": "abc"},
    ],
)
def test_build_job_refuses_what_breaks_the_limits(
    system: JobSystem, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        build(system, **fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"args": "abc"},
        {"args": nested(9)},
        {"kwargs": [1]},
        {"kwargs": "ab"},
        {"metadata": [("a", 1)]},
        {"metadata": {"k": "x" * 2000}},
        {"queue_name": ""},
        {"queue_name": "q" * 256},
        {"priority": "urgent"},
        {"tags": "abc"},
        {"tags": ["a", "b", "c", "d"]},
        {"max_retries": -1},
        {"retry_delay": -1},
        {"timeout": 0},
        {"timeout": DEFAULT_LIMITS.max_timeout + 1},
        {"version": NUL},
    ],
)
async def test_a_schedule_refuses_its_job_fields_in_the_job_requests_own_words(
    system: JobSystem, fields: dict[str, Any]
) -> None:
    """A schedule's job fields are checked by the job request's ``validated``, not a copy."""
    with pytest.raises(ValidationError) as refused_job:
        build(system, **fields)
    with pytest.raises(ValidationError) as refused_schedule:
        await system.schedules.create("s", "echo", interval={"minutes": 5}, **fields)
    assert str(refused_schedule.value) == str(refused_job.value)


def test_build_job_accepts_the_limits_themselves(system: JobSystem) -> None:
    job = build(
        system,
        args=nested(7),
        tags=["a", "b", "c"],
        retry_delay=DEFAULT_LIMITS.max_retry_delay,
        timeout=DEFAULT_LIMITS.max_timeout,
        max_retries=DEFAULT_LIMITS.max_retries,
        delay=DEFAULT_LIMITS.max_schedule_ahead,
    )
    assert job.scheduled_at == EPOCH + timedelta(seconds=DEFAULT_LIMITS.max_schedule_ahead)
    assert json.loads(json.dumps(job.args)) == nested(7)


def test_a_far_scheduled_at_in_another_zone_is_measured_in_utc(system: JobSystem) -> None:
    ahead = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=30)
    assert build(system, scheduled_at=ahead.replace(tzinfo=None)).scheduled_at == ahead


async def test_cancel_refuses_a_reason_no_store_can_keep(system: JobSystem) -> None:
    for reason in (NUL, SURROGATE, "r" * (DEFAULT_LIMITS.max_text_chars + 1)):
        with pytest.raises(ValidationError, match="reason"):
            await system.cancel("some-job", reason)


# -- list filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"queue_name": NUL},
        {"queue_name": SURROGATE},
        {"worker_id": NUL},
        {"task_name": SURROGATE},
        {"tags": ("ok", NUL)},
    ],
)
def test_a_job_filter_refuses_strings_no_store_can_compare(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="filter"):
        JobFilter(**fields)


def test_filters_accept_ordinary_and_empty_strings() -> None:
    assert JobFilter(queue_name="", tags=("a", "é")).tags == ("a", "é")
    with pytest.raises(ValidationError, match="filter"):
        ScheduleFilter(tags=(SURROGATE,))


# -- the fast path of validate_json agrees with check_json ---------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\x01"]))),
)
json_like = st.recursive(
    json_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.tuples(kids),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), kids, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=json_like, depth=st.integers(1, 6), max_bytes=st.sampled_from([30, 200, 10_000]))
def test_validate_json_refuses_exactly_what_check_json_refuses(
    value: Any, depth: int, max_bytes: int
) -> None:
    limits = Limits(max_json_depth=depth, max_payload_bytes=max_bytes)
    try:
        check_json(value, "args", depth, max_bytes)
        expected = None
    except ValidationError as exc:
        expected = str(exc)
    try:
        validate_json(value, "args", limits)
        got = None
    except ValidationError as exc:
        got = str(exc)
    assert got == expected


# -- a worker settles a long backoff -----------------------------------------------------


async def test_a_backoff_past_float_range_settles_the_job_as_retrying(
    store: Store, clock: ManualClock
) -> None:
    """``2 ** 1500`` overflowed in the settle path and left the job running."""
    system = JobSystem(store=store, clock=clock, settings=Settings())

    @system.task(max_retries=5000, retry_delay=60, backoff=True)
    async def flaky() -> None:
        raise RuntimeError("again")

    job = make_job(task_name="flaky", retry_count=1500, max_retries=5000, retry_delay=60)
    await store.insert_jobs([job])
    async with Worker(system, worker_id="w1") as worker:
        assert await worker.run_once() == 1
    settled = await system.get(job.id)
    assert (settled.status, settled.retry_count) == (Status.RETRYING, 1501)
    assert settled.scheduled_at == clock.now() + timedelta(seconds=3600)


def test_integers_too_large_to_encode_are_refused_and_large_ones_count_by_size() -> None:
    check_json([2**13_000], "args", 64, 10_000)
    with pytest.raises(ValidationError, match="too large for JSON"):
        check_json([2**20_000], "args", 64, 10**7)
    with pytest.raises(ValidationError, match=r"larger than|more than"):
        check_json([2**13_000] * 200, "args", 64, 100_000)
