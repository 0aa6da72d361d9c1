"""The fast path (``uno.jobs.api.fast_path``) answers exactly as FastAPI does.

Two apps serve the same job system: ``create_app`` (fast path on) and a FastAPI
app whose routes carry one more dependency (fast path off). Each request below
gets the same status and body from both, and the valid ones skip FastAPI's
dependency solving on the first app.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import Depends, FastAPI

from api.conftest import TokenMaker
from uno.jobs import JobSystem
from uno.jobs.api import create_app, register_jobs_endpoints

JOBS = "/api/v1/jobs"
JSON = {"Content-Type": "application/json"}


async def _nothing() -> None:
    """A dependency of the reference app: its routes cannot take the fast path."""


@pytest.fixture
async def apps(system: JobSystem) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    fast = create_app(system, embedded_worker=False, embedded_scheduler=False)
    reference = FastAPI()
    register_jobs_endpoints(reference, "/api/v1", dependencies=[Depends(_nothing)], system=system)
    async with fast.router.lifespan_context(fast):
        yield fast, reference


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Paths of the requests FastAPI solved dependencies for (its own way)."""
    calls: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def spy(*, request: Any, **kwargs: Any) -> Any:
        calls.append(request.url.path)
        return await original(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", spy)
    yield calls


async def send(app: FastAPI, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.request(method, url, **kw)
    body = response.json()
    if isinstance(body, dict):  # what differs between two creations of the same job
        body = {k: v for k, v in body.items() if k not in {"id", "created_at", "scheduled_at"}}
    return response.status_code, body


BODIES: list[dict[str, Any]] = [
    {"json": {"task_name": "add", "args": [1, 2], "tags": ["a"], "priority": "high"}},
    {"json": {"task_name": "echo", "args": [0.1, 2e20, "é", None], "timeout": "30"}},
    {"json": {"task_name": "nope"}},  # unknown task: the domain's 400
    {"json": {"task_name": ""}},  # out of bounds: the domain's 400
    {"json": {"task_name": "add", "priority": "urgent"}},  # FastAPI's 422
    {"json": []},
    {"content": b"{nope", "headers": JSON},
    {"content": b"", "headers": JSON},
    {"content": b'{"task_name": "add"}', "headers": {"Content-Type": "text/plain"}},
    {"content": b'{"task_name": "e\\ud800cho"}', "headers": JSON},  # refused by the domain
]


async def test_create_job_answers_as_fastapi_does(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker, solved: list[str]
) -> None:
    fast, reference = apps
    auth = {"Authorization": f"Bearer {token('jobs:write')}"}
    for request in BODIES:
        headers = auth | request.pop("headers", {})
        solved.clear()
        got = await send(fast, "POST", JOBS, headers=headers, **request)
        fast_solved = len(solved)
        assert got == await send(reference, "POST", JOBS, headers=headers, **request), request
        if got[0] == 201:
            assert (fast_solved, len(solved)) == (0, 1), request


QUERIES = [
    "?limit=2&offset=1&order_by=priority&order_dir=asc",
    "?status=pending&status=failed&tags=a&priority=high",
    "?limit=3.0",
    "?limit=0",
    "?status=bogus",
    "?limit=2&limit=3",  # a single parameter given twice: FastAPI reads the last one
]


async def test_list_jobs_answers_as_fastapi_does(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker, solved: list[str]
) -> None:
    fast, reference = apps
    auth = {"Authorization": f"Bearer {token()}"}
    for tags in (["a", "b"], ["a"], []):
        body = {"task_name": "add", "tags": tags, "priority": "high"}
        assert (await send(fast, "POST", JOBS, json=body, headers=auth))[0] == 201
    for query in QUERIES:
        solved.clear()
        got = await send(fast, "GET", JOBS + query, headers=auth)
        fast_solved = len(solved)
        assert got == await send(reference, "GET", JOBS + query, headers=auth), query
        if got[0] == 200 and "limit=2&limit=3" not in query:
            assert (fast_solved, len(solved)) == (0, 1), query
    raw = []
    for app in apps:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=auth
        ) as client:
            raw.append((await client.get(JOBS)).content)
    assert raw[0] == raw[1] and json.loads(raw[0])["total"] == 3


async def test_dependency_overrides_send_requests_the_fastapi_way(
    apps: tuple[FastAPI, FastAPI], token: TokenMaker, solved: list[str]
) -> None:
    fast, _ = apps
    fast.dependency_overrides[_nothing] = _nothing
    auth = {"Authorization": f"Bearer {token()}"}
    status, body = await send(fast, "POST", JOBS, json={"task_name": "add"}, headers=auth)
    assert (status, body["task_name"]) == (201, "add")
    assert solved == [JOBS]


async def test_a_body_limit_of_the_app_holds_on_the_fast_path(
    system: JobSystem, token: TokenMaker
) -> None:
    if "max_body_size" not in inspect.signature(FastAPI).parameters:
        pytest.skip("this FastAPI has no max_body_size")
    app = FastAPI(max_body_size=64)  # type: ignore[call-arg]
    register_jobs_endpoints(app, "/api/v1", system=system)
    auth = {"Authorization": f"Bearer {token()}"}
    assert (await send(app, "POST", JOBS, json={"task_name": "add"}, headers=auth))[0] == 201
    big = {"task_name": "add", "args": ["x" * 100]}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.post(JOBS, json=big, headers=auth)).status_code == 413
    await system.close()
