"""Lean handlers answer exactly as FastAPI's own handlers would.

Two apps serve the same job system: the server of ``create_app`` (lean handlers
on) and a FastAPI app whose routes carry one more dependency (lean handlers
off). Every request below must get the same status and body from both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials

from conftest import TokenMaker, claims, sign
from uno.jobs import JobSystem
from uno.jobs.api import create_app, register_jobs_endpoints
from uno.jobs.api.auth import bearer_scheme

JOBS = "/api/v1/jobs"
#: Fields that differ between two creations of the same job.
VARYING = {"id", "created_at"}


def comparable(body: Any) -> Any:
    """A body without what differs between two creations of the same job."""
    if not isinstance(body, dict) or "created_at" not in body:
        return body
    now = body["created_at"]
    return {
        k: v for k, v in body.items() if k not in VARYING and not (k == "scheduled_at" and v == now)
    }


async def _nothing() -> None:
    """A dependency of the reference app: its routes cannot be served lean."""


@pytest.fixture
async def apps(system: JobSystem) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    lean = create_app(system, embedded_worker=False, embedded_scheduler=False)
    reference = FastAPI()
    register_jobs_endpoints(reference, "/api/v1", dependencies=[Depends(_nothing)], system=system)
    async with lean.router.lifespan_context(lean):
        yield lean, reference


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Paths of the requests FastAPI solved dependencies for (its non-lean path)."""
    calls: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def spy(*, request: Any, **kwargs: Any) -> Any:
        calls.append(request.url.path)
        return await original(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", spy)
    yield calls


async def send(app: FastAPI, method: str, url: str, **kw: Any) -> tuple[int, Any, str]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.request(method, url, **kw)
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = response.text
    return response.status_code, comparable(body), response.headers.get("content-type", "")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_cases(token: TokenMaker) -> list[tuple[str, dict[str, Any]]]:
    write, read = bearer(token("jobs:write")), bearer(token("jobs:read"))
    expired = bearer(sign(claims(ttl=-60)))
    as_json = {"Content-Type": "application/json"}
    return [
        ("minimal", {"json": {"task_name": "add", "args": [1, 2]}, "headers": write}),
        (
            "every field",
            {
                "json": {
                    "task_name": "process_data",
                    "args": [42, "test", 1.5, None, {"x": [1e300]}],
                    "kwargs": {"format": "json", "ünï": "çødé"},
                    "queue_name": "default",
                    "priority": "high",
                    "scheduled_at": "2023-06-15T10:00:00",
                    "max_retries": 3,
                    "retry_delay": 60,
                    "timeout": 1.5,
                    "tags": ["data", "processing"],
                    "metadata": {"source": "api"},
                    "version": "1.0",
                },
                "headers": write,
            },
        ),
        ("number as text", {"json": {"task_name": "add", "timeout": "30"}, "headers": write}),
        ("unknown task", {"json": {"task_name": "nope"}, "headers": write}),
        ("unknown version", {"json": {"task_name": "add", "version": "9.9"}, "headers": write}),
        ("empty name", {"json": {"task_name": ""}, "headers": write}),
        ("bad enum", {"json": {"task_name": "add", "priority": "urgent"}, "headers": write}),
        ("bad date", {"json": {"task_name": "add", "scheduled_at": "soon"}, "headers": write}),
        ("list body", {"json": [], "headers": write}),
        ("not json", {"content": "{nope", "headers": write | as_json}),
        ("empty body", {"content": b"", "headers": write | as_json}),
        ("no body", {"headers": write}),
        ("text body", {"content": '{"task_name": "add"}', "headers": write}),
        (
            "plain text type",
            {"content": '{"task_name": "add"}', "headers": write | {"Content-Type": "text/plain"}},
        ),
        (
            "json suffix type",
            {
                "content": '{"task_name": "add"}',
                "headers": write | {"Content-Type": "application/vnd.api+json"},
            },
        ),
        (
            "charset",
            {
                "content": '{"task_name": "add"}',
                "headers": write | {"Content-Type": "Application/JSON; charset=utf-8"},
            },
        ),
        ("no token", {"json": {"task_name": "add"}}),
        ("no token, bad body", {"json": {"task_name": ""}}),
        ("no token, not json", {"content": "{nope", "headers": as_json}),
        ("basic auth", {"json": {"task_name": "add"}, "headers": {"Authorization": "Basic eA=="}}),
        ("garbage token", {"json": {"task_name": "add"}, "headers": bearer("not-a-jwt")}),
        ("expired token", {"json": {"task_name": "add"}, "headers": expired}),
        ("read scope only", {"json": {"task_name": "add"}, "headers": read}),
        ("read scope, bad body", {"json": {"task_name": ""}, "headers": read}),
    ]


async def test_create_job_answers_as_fastapi_does(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker, solved: list[str]
) -> None:
    lean, reference = apps
    for case, request in post_cases(token):
        solved.clear()
        got = await send(lean, "POST", JOBS, **request)
        solved_by_lean = list(solved)
        expected = await send(reference, "POST", JOBS, **request)
        assert got == expected, case
        if got[0] == 201 and case != "json suffix type":  # the one FastAPI answers
            assert solved_by_lean == [] and len(solved) == 1, case


async def test_duplicate_job_id_is_the_same_409(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker
) -> None:
    lean, reference = apps
    request = {"json": {"task_name": "add", "job_id": "twice"}, "headers": bearer(token())}
    first = await send(lean, "POST", JOBS, **request)
    assert first[0] == 201 and first[1]["task_name"] == "add"
    assert await send(lean, "POST", JOBS, **request) == await send(
        reference, "POST", JOBS, **request
    )
    assert (await send(lean, "POST", JOBS, **request))[0] == 409


async def test_the_created_view_is_the_stored_view(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker
) -> None:
    lean, _ = apps
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=lean), base_url="http://test", headers=bearer(token())
    ) as client:
        created = await client.post(JOBS, json={"task_name": "echo", "args": [0.1, 2e20, "é"]})
        assert created.status_code == 201
        assert created.headers["content-type"] == "application/json"
        stored = await client.get(f"{JOBS}/{created.json()['id']}")
    # The stored view is the created one plus the job-control additions, at its end.
    assert stored.content == created.content[:-1] + b',"attempts":[],"progress":null}'


async def test_openapi_is_the_same_with_lean_handlers(apps: tuple[FastAPI, FastAPI]) -> None:
    lean, reference = apps
    lean_doc, reference_doc = lean.openapi(), reference.openapi()
    api_paths = {path: item for path, item in lean_doc["paths"].items() if path != "/healthz"}
    api_paths.pop("/readyz")
    assert api_paths == reference_doc["paths"]
    operation = lean_doc["paths"][JOBS]["post"]
    assert operation == reference_doc["paths"][JOBS]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateJobDto"
    }
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/JobViewDto"}
    assert {"400", "401", "403", "409", "422"} <= set(operation["responses"])


async def test_dependency_overrides_are_honoured(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker, solved: list[str]
) -> None:
    lean, _ = apps

    async def credentials() -> HTTPAuthorizationCredentials:
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token())

    lean.dependency_overrides[bearer_scheme] = credentials
    status, body, _ = await send(lean, "POST", JOBS, json={"task_name": "add"})
    assert (status, body["task_name"]) == (201, "add")
    assert solved == [JOBS]


async def test_without_auth_the_lean_path_needs_no_token(
    system: JobSystem, solved: list[str]
) -> None:
    app = create_app(system, embedded_worker=False, embedded_scheduler=False, include_auth=False)
    async with app.router.lifespan_context(app):
        status, body, _ = await send(app, "POST", JOBS, json={"task_name": "add"})
    assert (status, body["task_name"]) == (201, "add")
    assert solved == []


async def test_a_size_limit_is_left_to_fastapi(system: JobSystem, token: TokenMaker) -> None:
    app = FastAPI(max_body_size=64)
    register_jobs_endpoints(app, "/api/v1", system=system)
    small = await send(app, "POST", JOBS, json={"task_name": "add"}, headers=bearer(token()))
    assert small[0] == 201
    big = {"task_name": "add", "args": ["x" * 100]}
    status, _, _ = await send(app, "POST", JOBS, json=big, headers=bearer(token()))
    assert status == 413
    await system.close()


LIST_QUERIES = [
    "",
    "?limit=2",
    "?limit=2&offset=1&order_by=priority&order_dir=asc",
    "?status=pending&status=failed",
    "?tags=a&tags=b",
    "?tags=a",
    "?priority=high&queue_name=default&task_name=add",
    "?worker_id=w1",
    "?limit=1000&offset=1000000000",
    "?unknown=1&limit=3",
    "?limit=+3",
    "?limit=3.0",
    "?limit=0",
    "?limit=1001",
    "?limit=",
    "?limit=x",
    "?limit=2&limit=3",
    "?offset=-1",
    "?status=bogus",
    "?status=",
    "?priority=urgent",
    "?order_by=name",
    "?order_dir=up",
    "?order_by=created_at&order_by=priority",
]

#: A parameter of one value given twice: FastAPI reads the last one.
LEFT_TO_FASTAPI = {"?limit=2&limit=3", "?order_by=created_at&order_by=priority"}


async def test_list_jobs_answers_as_fastapi_does(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker, solved: list[str]
) -> None:
    lean, reference = apps
    write = bearer(token("jobs:write"))
    for body in (
        {"task_name": "add", "tags": ["a", "b"], "priority": "high"},
        {"task_name": "add", "tags": ["a"]},
        {"task_name": "echo", "args": [1.5, "é"], "queue_name": "other"},
    ):
        assert (await send(lean, "POST", JOBS, json=body, headers=write))[0] == 201
    read = bearer(token("jobs:read"))
    for query in LIST_QUERIES:
        solved.clear()
        got = await send(lean, "GET", JOBS + query, headers=read)
        solved_by_lean = list(solved)
        expected = await send(reference, "GET", JOBS + query, headers=read)
        assert got == expected, query
        if got[0] == 200 and query not in LEFT_TO_FASTAPI:
            assert solved_by_lean == [] and len(solved) == 1, query
    for headers in ({}, bearer("not-a-jwt"), write, bearer(sign(claims(ttl=-60)))):
        got = await send(lean, "GET", JOBS, headers=headers)
        assert got[0] in (401, 403)
        assert got == await send(reference, "GET", JOBS, headers=headers)


async def test_a_listed_page_is_encoded_as_fastapi_encodes_it(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker
) -> None:
    lean, reference = apps
    headers = bearer(token())
    for args in ([0.1, 2e20, "é", None], [{"nested": [1, 2.5]}]):
        body = {"task_name": "echo", "args": args, "scheduled_at": "2030-01-01T00:00:00+02:00"}
        assert (await send(lean, "POST", JOBS, json=body, headers=headers))[0] == 201
    raw = []
    for app in (lean, reference):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
        ) as client:
            response = await client.get(JOBS)
        assert response.status_code == 200
        raw.append((response.headers["content-type"], response.content))
    assert raw[0] == raw[1]
    assert json.loads(raw[0][1])["total"] == 2
