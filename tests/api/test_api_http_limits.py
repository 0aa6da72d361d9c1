"""The HTTP edge: a token is checked before a body is read, bodies are bounded while
they stream, token edge cases answer 401, and store faults answer 503 or 507.

Every check runs on the fast path (``create_app``), on FastAPI's path (an app
whose routes carry one more dependency) and on routers mounted with
``register_jobs_endpoints``, and the answers are the same on each.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg_pool
import pytest
from fastapi import APIRouter, Depends, FastAPI

from api.conftest import TokenMaker, make_system, sign
from uno.jobs import JobSystem
from uno.jobs.api import create_app, register_jobs_endpoints
from uno.jobs.api.auth import TokenVerifier
from uno.jobs.errors import StorageFull
from uno.jobs.limits import Limits

JOBS = "/api/v1/jobs"
#: A small body limit, so that the tests send kilobytes rather than megabytes.
MAX_BODY = 2048
JSON = {"Content-Type": "application/json"}
#: Every route of the Jobs API that takes a body, or may be sent one.
WRITE_ROUTES = [
    ("POST", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs/run-sync"),
    ("POST", "/api/v1/jobs/j1/cancel"),
    ("POST", "/api/v1/jobs/j1/retry"),
    ("POST", "/api/v1/schedules"),
    ("PUT", "/api/v1/schedules/s1"),
    ("POST", "/api/v1/schedules/s1/pause"),
    ("POST", "/api/v1/queues/default/pause"),
    ("POST", "/api/v1/queues/default/clear"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _nothing() -> None:
    """A dependency of the reference app: its routes cannot take the fast path."""


@pytest.fixture
def limited(tmp_path: Path) -> JobSystem:
    return make_system(tmp_path, limits=Limits(max_body_bytes=MAX_BODY))


def _user_app(system: JobSystem) -> FastAPI:
    """A user's own app that mounts the routers through a router of its own."""
    app = FastAPI()
    outer = APIRouter(prefix="/outer")
    register_jobs_endpoints(outer, "/api/v1", system=system)
    app.include_router(outer)
    return app


@pytest.fixture
async def apps(limited: JobSystem) -> AsyncIterator[dict[str, tuple[FastAPI, str]]]:
    """The same job system behind every way of serving it, with the prefix of each."""
    fast = create_app(limited, embedded_worker=False, embedded_scheduler=False)
    reference = FastAPI()
    register_jobs_endpoints(reference, "/api/v1", dependencies=[Depends(_nothing)], system=limited)
    async with fast.router.lifespan_context(fast):
        yield {
            "fast": (fast, ""),
            "fastapi": (reference, ""),
            "mounted": (_user_app(limited), "/outer"),
        }


class CountedBody:
    """A streamed (chunked) request body that counts the chunks the server pulled."""

    def __init__(self, chunks: int, size: int = 1024) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    #: Valid JSON so far: the body is refused for its size, not its syntax.
    first = b'{"task_name": "add", "x": "'

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.chunks):
            self.pulled += 1
            yield self.first if index == 0 else b"x" * self.size


async def send(app: FastAPI, method: str, url: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        return await client.request(method, url, **kw)


async def total_jobs(system: JobSystem) -> int:
    _, total = await system.list_jobs()
    return total


# -- authentication before the body ---------------------------------------------


async def test_no_token_answers_401_before_a_malformed_body_is_parsed(
    apps: dict[str, tuple[FastAPI, str]],
) -> None:
    for way, (app, prefix) in apps.items():
        for method, path in WRITE_ROUTES:
            response = await send(app, method, prefix + path, content=b"{not json", headers=JSON)
            assert response.status_code == 401, (way, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"].startswith("Not authenticated")


async def test_no_token_reads_not_a_byte_of_the_body(
    apps: dict[str, tuple[FastAPI, str]], token: TokenMaker
) -> None:
    for way, (app, prefix) in apps.items():
        for headers, status in (({}, 401), (bearer(token("jobs:read")), 403)):
            body = CountedBody(chunks=50)
            response = await send(app, "POST", prefix + JOBS, content=body, headers=headers | JSON)
            assert response.status_code == status, (way, response.text)
            assert body.pulled == 0, way


async def test_a_huge_declared_body_without_a_token_is_a_401(
    apps: dict[str, tuple[FastAPI, str]],
) -> None:
    for way, (app, prefix) in apps.items():
        response = await send(
            app,
            "POST",
            prefix + JOBS,
            content=b"{}",
            headers=JSON | {"Content-Length": str(50 * 1024 * 1024)},
        )
        assert response.status_code == 401, way


# -- the body limit ---------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_a_413_and_nothing_is_written(
    apps: dict[str, tuple[FastAPI, str]], limited: JobSystem, token: TokenMaker
) -> None:
    big = {"task_name": "add", "args": ["x" * MAX_BODY]}
    answers = set()
    for way, (app, prefix) in apps.items():
        response = await send(app, "POST", prefix + JOBS, json=big, headers=bearer(token()))
        assert response.status_code == 413, (way, response.text)
        answers.add(response.text)
    assert len(answers) == 1
    assert f"larger than {MAX_BODY} bytes" in answers.pop()
    assert await total_jobs(limited) == 0


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(
    apps: dict[str, tuple[FastAPI, str]], limited: JobSystem, token: TokenMaker
) -> None:
    for way, (app, prefix) in apps.items():
        body = CountedBody(chunks=200)
        headers = bearer(token()) | JSON
        response = await send(app, "POST", prefix + JOBS, content=body, headers=headers)
        assert response.status_code == 413, (way, response.text)
        assert response.json()["detail"].startswith("Request body is larger than")
        assert body.pulled <= MAX_BODY // body.size + 2, way
    assert await total_jobs(limited) == 0


async def test_a_body_within_the_limit_is_served(
    apps: dict[str, tuple[FastAPI, str]], limited: JobSystem, token: TokenMaker
) -> None:
    near = {"task_name": "add", "args": ["x" * (MAX_BODY - 100)]}
    for way, (app, prefix) in apps.items():
        response = await send(app, "POST", prefix + JOBS, json=near, headers=bearer(token()))
        assert response.status_code == 201, (way, response.text)
    assert await total_jobs(limited) == len(apps)


async def test_the_default_limit_is_one_mebibyte(system: JobSystem, token: TokenMaker) -> None:
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with app.router.lifespan_context(app):
        over = {"task_name": "add", "args": ["x" * (1024 * 1024)]}
        response = await send(app, "POST", JOBS, json=over, headers=bearer(token()))
        assert response.status_code == 413
        assert "larger than 1048576 bytes" in response.json()["detail"]
        assert await total_jobs(system) == 0


async def test_without_auth_the_body_is_still_bounded(limited: JobSystem) -> None:
    app = create_app(limited, embedded_worker=False, embedded_scheduler=False, include_auth=False)
    async with app.router.lifespan_context(app):
        big = {"task_name": "add", "args": ["x" * MAX_BODY]}
        assert (await send(app, "POST", JOBS, json=big)).status_code == 413
        assert (await send(app, "POST", JOBS, json={"task_name": "add"})).status_code == 201


# -- token edge cases -------------------------------------------------------------


def _claims(**values: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "t", "scope": "jobs:read", "iat": now, "exp": now + 600} | values


async def test_a_signed_token_with_numbers_out_of_range_is_a_401(
    apps: dict[str, tuple[FastAPI, str]],
) -> None:
    for claims in (
        _claims(exp=10**400),
        _claims(exp=str(10**400)),
        _claims(iat=10**400),
        _claims(nbf=-(10**400)),
    ):
        token = sign(claims)
        for way, (app, prefix) in apps.items():
            response = await send(app, "GET", prefix + JOBS, headers=bearer(token))
            assert response.status_code == 401, (way, claims, response.text)
            assert response.json()["detail"].startswith("Invalid token")


async def test_a_token_over_the_size_limit_is_refused_undecoded(
    apps: dict[str, tuple[FastAPI, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign(_claims(padding="p" * Limits().max_token_bytes))
    decoded: list[str] = []
    monkeypatch.setattr("jwt.get_unverified_header", lambda t: decoded.append(t) or {})
    for way, (app, prefix) in apps.items():
        response = await send(app, "GET", prefix + JOBS, headers=bearer(token))
        assert response.status_code == 401, way
        assert "longer than" in response.json()["detail"]
    assert decoded == []


async def test_the_verified_token_cache_is_bounded_by_size(tmp_path: Path) -> None:
    verifier = TokenVerifier(make_system(tmp_path).settings)
    verifier.cache_chars = 64 * 1024
    tokens = [sign(_claims(sub=f"user{i}", padding="p" * 6000)) for i in range(40)]
    for token in tokens:
        assert (await verifier.verify(token)).subject is not None
    remembered = list(verifier._verified)
    assert sum(len(token) for token in remembered) <= verifier.cache_chars
    assert remembered == tokens[-len(remembered) :]  # the newest are kept
    assert (await verifier.verify(tokens[0])).subject == "user0"  # verified again


# -- store faults -----------------------------------------------------------------

FAULTS = [
    (sqlite3.OperationalError("database is locked"), 503, "database is locked"),
    (sqlite3.DatabaseError("file is not a database"), 503, "file is not a database"),
    (psycopg.OperationalError("connection refused\nDETAIL: more"), 503, "connection refused"),
    (psycopg.InterfaceError("the connection is closed"), 503, "the connection is closed"),
    (psycopg_pool.PoolTimeout("couldn't get a connection"), 503, "couldn't get a connection"),
    (StorageFull("database or disk is full"), 507, "database or disk is full"),
]


async def test_store_faults_answer_with_their_status_and_a_detail(
    apps: dict[str, tuple[FastAPI, str]],
    limited: JobSystem,
    token: TokenMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = [
        ("POST", JOBS, {"json": {"task_name": "add"}}),
        ("GET", JOBS, {}),
        ("GET", JOBS + "/stats", {}),
    ]
    for fault, status, detail in FAULTS:

        async def fail(*args: Any, fault: Exception = fault, **kwargs: Any) -> Any:
            raise fault

        for verb in ("enqueue", "list_jobs", "stats"):
            monkeypatch.setattr(limited, verb, fail)
        for way, (app, prefix) in apps.items():
            for method, path, kw in requests:
                response = await send(app, method, prefix + path, headers=bearer(token()), **kw)
                assert response.status_code == status, (way, path, fault, response.text)
                assert detail in response.json()["detail"], (way, path)
                assert "\n" not in response.json()["detail"]


async def test_a_store_that_cannot_open_answers_401_without_a_token_and_503_with_one(
    tmp_path: Path, token: TokenMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = make_system(tmp_path)

    async def unreachable() -> JobSystem:
        raise psycopg.OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(system, "open", unreachable)
    app = FastAPI()
    register_jobs_endpoints(app, "/api/v1", system=system, manage_lifespan=False)
    anonymous = await send(app, "POST", JOBS, json={"task_name": "add"})
    assert anonymous.status_code == 401  # refused without touching the store
    for method, path in (("POST", JOBS), ("GET", JOBS), ("GET", JOBS + "/stats")):
        response = await send(app, method, path, json={"task_name": "add"}, headers=bearer(token()))
        assert response.status_code == 503, (path, response.text)
        assert "Connection refused" in response.json()["detail"]
