"""Property: no string or JSON value in any write request can break the API.

Generated values (NUL, lone surrogates, very long strings, JSON nested from a
few levels to far past the interpreter's recursion limit, NaN, huge numbers) go
into every string and JSON field of every write endpoint, through the real ASGI
app on each store. Whatever the value, the answer is never a 5xx, a refusal
carries a ``detail``, and every job or schedule the API accepted can be listed
and fetched afterwards.

run-sync gets the same bodies with a short ``timeout``: without a worker an
accepted one waits that long and answers 504, its job stored like any other.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from api.conftest import SECRET, claims, sign
from uno.jobs import JobSystem, Settings
from uno.jobs.api import create_app
from uno.jobs.demo import registry as demo_registry
from uno.jobs.store.base import Store

API = "/api/v1"
PROPERTY = settings(
    max_examples=75,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Client:
    """A blocking client for hypothesis, which drives plain functions from a thread.

    Requests run on the test's event loop, where the app and its store live.
    """

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client, self.loop = client, loop

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        answer = self.client.request(method, path, **options)
        return asyncio.run_coroutine_threadsafe(answer, self.loop).result(timeout=60)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)


async def run_against_the_api(store: Store, prop: Callable[[Client], None]) -> None:
    """``prop(client)`` in a thread, with a client of the app over ``store``."""
    system = JobSystem(store=store, settings=Settings(jwt_secret=SECRET), registry=demo_registry)
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    headers = {"Authorization": f"Bearer {sign(claims())}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
    ) as client:
        await asyncio.to_thread(prop, Client(client, asyncio.get_running_loop()))


# -- generated values -----------------------------------------------------------------


class RawJson:
    """JSON text placed verbatim in a body: nesting that ``json.dumps`` could not encode."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJson({self.text[:40]!r}, {len(self.text)} chars)"


def nested_json(depth: int, inner: str = "1", opener: str = "[", closer: str = "]") -> RawJson:
    return RawJson(opener * depth + inner + closer * depth)


def encode(body: dict[str, Any]) -> str:
    """``body`` as JSON text; lone surrogates become ``\\udXXX`` escapes, as a client sends."""
    raws: dict[str, str] = {}

    def placeholder(value: Any) -> Any:
        if isinstance(value, RawJson):
            key = f"@@raw{len(raws)}@@"
            raws[key] = value.text
            return key
        raise TypeError(type(value).__name__)

    text = json.dumps(body, default=placeholder)
    for key, raw in raws.items():
        text = text.replace(json.dumps(key), raw)
    return text


SPECIAL = ["\x00", "\ud800", "\udfff", "a\x00b", "x\ud83d", "/", "a/b", "..", "%00", " ", "é"]
characters = st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "/"]))
strings = st.one_of(
    st.text(characters, max_size=12),
    st.sampled_from(SPECIAL),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\x00"]), st.integers(250, 70_000)),
)
#: Depths around the limit (64), where stores and encoders used to fail (~280,
#: 500-900), and far past the recursion limit of the interpreter.
deep = st.builds(
    nested_json,
    st.sampled_from([63, 64, 65, 280, 600, 900, 1_500, 100_000]),
    st.sampled_from(["1", '"\\ud800"', '"\\u0000"', "{}"]),
)
deep_objects = st.builds(
    lambda depth: nested_json(depth, "1", '{"k":', "}"),
    st.sampled_from([64, 65, 300, 5_000]),
)
numbers = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([10_000, 10_001, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e12, 2_592_000, 2_592_001, 316_224_000, 1e308]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(strings, kids, max_size=3)),
    max_leaves=8,
)
json_lists = st.one_of(st.lists(json_values, max_size=4), deep, st.builds(lambda d: [d], deep))
json_objects = st.one_of(
    st.dictionaries(strings, json_values, max_size=4),
    deep_objects,
    st.builds(lambda d: {"k": d}, deep),
)
tag_lists = st.one_of(
    st.lists(strings, max_size=4), st.lists(st.just("t"), min_size=65, max_size=66)
)
datetimes = st.one_of(
    strings,
    st.sampled_from(
        ["2030-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]
    ),
    st.datetimes().map(lambda d: d.isoformat()),
)


def fuzzed(
    valid: dict[str, Any], fuzz: dict[str, st.SearchStrategy[Any]], most: int = 3
) -> st.SearchStrategy[dict[str, Any]]:
    """``valid`` with up to ``most`` of its fields replaced by generated values.

    Fuzzing a few fields of a valid body at a time reaches every field's own
    checks and lets many requests be accepted, which the readability half of
    the property needs.
    """
    field = st.sampled_from(sorted(fuzz)).flatmap(lambda name: st.tuples(st.just(name), fuzz[name]))
    return st.lists(field, max_size=most).map(lambda changes: {**valid, **dict(changes)})


VALID_JOB: dict[str, Any] = {
    "task_name": "echo",
    "args": [1, "x"],
    "kwargs": {"k": [None]},
    "queue_name": "default",
    "priority": "high",
    "max_retries": 2,
    "retry_delay": 5,
    "timeout": 30,
    "tags": ["a"],
    "metadata": {"source": "property"},
    "version": "1.0",
}
JOB_FUZZ: dict[str, st.SearchStrategy[Any]] = {
    "task_name": strings,
    "args": json_lists,
    "kwargs": json_objects,
    "queue_name": strings,
    "priority": strings,
    "scheduled_at": datetimes,
    "max_retries": numbers,
    "retry_delay": numbers,
    "timeout": numbers,
    "tags": tag_lists,
    "metadata": json_objects,
    "version": strings,
    "job_id": strings,
}
job_bodies = fuzzed(VALID_JOB, JOB_FUZZ)

VALID_SCHEDULE: dict[str, Any] = {
    "name": "nightly",
    "task_name": "echo",
    "cron_expression": "0 8 * * *",
    "timezone": "Europe/Paris",
    **{k: v for k, v in VALID_JOB.items() if k not in ("task_name", "version")},
}
SCHEDULE_FUZZ: dict[str, st.SearchStrategy[Any]] = {
    **{k: v for k, v in JOB_FUZZ.items() if k not in ("scheduled_at", "job_id")},
    "name": strings,
    "cron_expression": strings,
    "interval": st.one_of(
        json_objects,
        st.fixed_dictionaries(
            {}, optional={k: numbers for k in ("days", "hours", "minutes", "seconds")}
        ),
    ),
    "timezone": strings,
    "status": strings,
}
#: A new schedule keeps its cron rule: an interval as well would only be refused.
schedule_bodies = fuzzed(
    VALID_SCHEDULE,
    {k: v for k, v in SCHEDULE_FUZZ.items() if k not in ("status", "interval")},
)
schedule_changes = fuzzed({}, SCHEDULE_FUZZ)


# -- what every answer must satisfy ------------------------------------------------------


def send(api: Client, method: str, path: str, body: dict[str, Any]) -> Any:
    response = api.request(method, path, content=encode(body))
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert "detail" in response.json(), response.text[:500]
    return response


def check_job_is_readable(api: Client, job: dict[str, Any]) -> None:
    """An accepted job is fetched by id and listed, alone and with its filters."""
    fetched = api.get(f"{API}/jobs/{job['id']}")
    assert fetched.status_code == 200, fetched.text[:500]
    assert fetched.json()["id"] == job["id"]
    newest = api.get(f"{API}/jobs", params={"limit": 5})
    assert newest.status_code == 200, newest.text[:500]
    assert job["id"] in {j["id"] for j in newest.json()["items"]}
    filtered = api.get(
        f"{API}/jobs",
        params={"queue_name": job["queue_name"], "tags": job["tags"], "limit": 1000},
    )
    assert filtered.status_code == 200, filtered.text[:500]
    assert job["id"] in {j["id"] for j in filtered.json()["items"]}


def check_schedule_is_readable(api: Client, schedule: dict[str, Any]) -> None:
    fetched = api.get(f"{API}/schedules/{schedule['id']}")
    assert fetched.status_code == 200, fetched.text[:500]
    assert isinstance(fetched.json()["max_retries"], int)
    listed = api.get(f"{API}/schedules", params={"limit": 1000})
    assert listed.status_code == 200, listed.text[:500]
    assert schedule["id"] in {s["id"] for s in listed.json()["items"]}


# -- the properties --------------------------------------------------------------------


@PROPERTY
@given(body=job_bodies, reason=st.one_of(st.none(), strings, deep))
@example(body={"task_name": "fail", "max_retries": 1, "retry_delay": 1e12}, reason=None)
@example(body={"task_name": "echo", "args": nested_json(280)}, reason=None)
@example(body={"task_name": "echo", "args": nested_json(900)}, reason=None)
@example(body={"task_name": "echo", "args": nested_json(100_000)}, reason=None)
@example(body={"args": nested_json(700)}, reason=None)
@example(body={"task_name": "echo", "job_id": "a/b"}, reason=None)
@example(body={"task_name": "echo", "tags": ["\ud800"], "metadata": {"k": "\x00"}}, reason=None)
@example(body={"task_name": "echo", "queue_name": "q\x00"}, reason="\ud800")
@example(body={"task_name": "echo", "kwargs": {"\x00": 1}}, reason="\x00")
def jobs_property(api: Client, body: dict[str, Any], reason: Any) -> None:
    created = send(api, "POST", f"{API}/jobs", body)
    event(f"create job: {created.status_code}")
    if created.status_code != 201:
        return
    job = created.json()
    check_job_is_readable(api, job)
    send(api, "POST", f"{API}/jobs/{job['id']}/cancel", {"reason": reason})
    check_job_is_readable(api, job)


RUN_SYNC_FIELDS = ("task_name", "args", "kwargs", "queue_name", "priority", "metadata", "version")
run_sync_bodies = fuzzed(
    {k: v for k, v in VALID_JOB.items() if k in RUN_SYNC_FIELDS},
    {k: v for k, v in JOB_FUZZ.items() if k in RUN_SYNC_FIELDS},
)


@settings(PROPERTY, max_examples=25)
@given(body=run_sync_bodies)
@example(body={"task_name": "echo", "args": nested_json(900)})
@example(body={"task_name": "echo", "metadata": {"\ud800": 1}})
def run_sync_property(api: Client, body: dict[str, Any]) -> None:
    response = api.request(
        "POST", f"{API}/jobs/run-sync", content=encode({**body, "timeout": 0.05})
    )
    event(f"run-sync: {response.status_code}")
    assert response.status_code < 500 or response.status_code == 504, response.text[:500]
    assert "detail" in response.json() or response.status_code == 200, response.text[:500]
    listed = api.get(f"{API}/jobs", params={"limit": 1000})
    assert listed.status_code == 200, listed.text[:500]
    for job in listed.json()["items"]:
        assert api.get(f"{API}/jobs/{job['id']}").status_code == 200


@PROPERTY
@given(body=schedule_bodies, changes=schedule_changes)
@example(
    body={"name": "s", "task_name": "echo", "interval": {"hours": 1}, "retry_delay": 1e12},
    changes={"args": nested_json(900)},
)
@example(
    body={"name": "s\ud800", "task_name": "echo", "cron_expression": "0 8 * * *"},
    changes={"tags": ["\x00"], "timezone": "UTC\x00"},
)
def schedules_property(api: Client, body: dict[str, Any], changes: dict[str, Any]) -> None:
    created = send(api, "POST", f"{API}/schedules", body)
    event(f"create schedule: {created.status_code}")
    if created.status_code != 201:
        return
    schedule = created.json()
    check_schedule_is_readable(api, schedule)
    updated = send(api, "PUT", f"{API}/schedules/{schedule['id']}", changes)
    event(f"update schedule: {updated.status_code}")
    if updated.status_code == 200:
        check_schedule_is_readable(api, updated.json())
    else:
        assert api.get(f"{API}/schedules/{schedule['id']}").json() == schedule


async def test_create_and_cancel_never_fail_and_accepted_jobs_stay_readable(
    store: Store,
) -> None:
    await run_against_the_api(store, jobs_property)


async def test_run_sync_never_fails_and_its_jobs_stay_readable(store: Store) -> None:
    await run_against_the_api(store, run_sync_property)


async def test_schedule_writes_never_fail_and_accepted_schedules_stay_readable(
    store: Store,
) -> None:
    await run_against_the_api(store, schedules_property)


def ids_and_filters(api: Client) -> None:
    for path in (f"{API}/jobs/a%00b", f"{API}/jobs/a%00b/cancel", f"{API}/schedules/a%00b"):
        method = "POST" if path.endswith("cancel") else "GET"
        response = api.request(method, path)
        assert response.status_code == 404, response.text
    for params in ({"queue_name": "q\x00"}, {"tags": ["t", "\x00"]}, {"worker_id": "\x00"}):
        response = api.get(f"{API}/jobs", params=params)
        assert response.status_code == 400, response.text
        assert "NUL" in response.json()["detail"]


async def test_ids_and_filters_no_store_can_hold_answer_4xx(store: Store) -> None:
    await run_against_the_api(store, ids_and_filters)
