"""Fixtures of the API tests: a JobSystem on a fresh SQLite file, the ASGI app
with its lifespan running, and clients holding tokens of chosen scopes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from uno.jobs import JobSystem, Settings
from uno.jobs.api import create_app
from uno.jobs.demo import registry as demo_registry

SECRET = "test-secret-of-at-least-thirty-two-bytes!"
ALL = "jobs:read jobs:write jobs:admin"

TokenMaker = Callable[..., str]
ClientMaker = Callable[..., httpx.AsyncClient]


def make_system(tmp_path: Path, **settings: Any) -> JobSystem:
    """The demo tasks over a fresh SQLite file in ``tmp_path``."""
    base = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, shutdown_grace=2.0)
    return JobSystem(
        f"sqlite:///{tmp_path}/jobs.db",
        settings=base.with_(**settings),
        registry=demo_registry,
    )


def sign(claims: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256", **kw: Any) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, **kw)


def claims(scope: str = ALL, ttl: float = 600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "tester", "scope": scope, "iat": now, "exp": now + int(ttl), **extra}


@pytest.fixture
def token() -> TokenMaker:
    """``token("jobs:read")``: an HS256 token with those scopes for the test secret."""

    def make(scope: str = ALL, **extra: Any) -> str:
        return sign(claims(scope, **extra))

    return make


@pytest.fixture
def system(tmp_path: Path) -> JobSystem:
    return make_system(tmp_path)


@pytest.fixture
def worker_enabled() -> bool:
    """Override (or parametrize) to run the embedded worker and scheduler."""
    return False


@pytest.fixture
async def app(system: JobSystem, worker_enabled: bool) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (store open; worker when asked)."""
    application = create_app(
        system, embedded_worker=worker_enabled, embedded_scheduler=False, concurrency=4
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def clients(app: FastAPI) -> AsyncIterator[ClientMaker]:
    """``clients(token)``: an httpx client talking to the app in process."""
    opened: list[httpx.AsyncClient] = []

    def make(bearer: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
def client(clients: ClientMaker, token: TokenMaker) -> httpx.AsyncClient:
    """A client with every scope."""
    return clients(token())
