"""Bearer JWT auth on every route: 401 for no, malformed, expired or wrongly signed
tokens, 403 without the scope; HS256, RS256/ES256 by PEM, and JWKS by URL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from api.conftest import SECRET, claims, make_system, sign
from uno.jobs import Settings
from uno.jobs.api import create_app
from uno.jobs.api.auth import issue_token, secret_path

AUDIENCE = "uno-jobs-tests"
ISSUER = "https://issuer.test/"

#: Every route of the Jobs API and the scope it needs.
ROUTES = [
    ("GET", "/api/v1/jobs", "jobs:read"),
    ("GET", "/api/v1/jobs/stats", "jobs:read"),
    ("GET", "/api/v1/jobs/{job_id}", "jobs:read"),
    ("POST", "/api/v1/jobs", "jobs:write"),
    ("POST", "/api/v1/jobs/run-sync", "jobs:write"),
    ("POST", "/api/v1/jobs/{job_id}/cancel", "jobs:write"),
    ("POST", "/api/v1/jobs/{job_id}/retry", "jobs:write"),
    ("GET", "/api/v1/schedules", "jobs:read"),
    ("GET", "/api/v1/schedules/{schedule_id}", "jobs:read"),
    ("POST", "/api/v1/schedules", "jobs:write"),
    ("PUT", "/api/v1/schedules/{schedule_id}", "jobs:write"),
    ("DELETE", "/api/v1/schedules/{schedule_id}", "jobs:write"),
    ("POST", "/api/v1/schedules/{schedule_id}/pause", "jobs:write"),
    ("POST", "/api/v1/schedules/{schedule_id}/resume", "jobs:write"),
    ("GET", "/api/v1/queues", "jobs:read"),
    ("POST", "/api/v1/queues/{queue_name}/pause", "jobs:admin"),
    ("POST", "/api/v1/queues/{queue_name}/resume", "jobs:admin"),
    ("POST", "/api/v1/queues/{queue_name}/clear", "jobs:admin"),
    ("GET", "/api/v1/tasks", "jobs:read"),
    ("GET", "/api/v1/tasks/{task_name}", "jobs:read"),
    ("POST", "/api/v1/jobs/bulk-retry", "jobs:write"),
    ("POST", "/api/v1/schedules/{schedule_id}/run", "jobs:write"),
    ("POST", "/api/v1/jobs/bulk-cancel", "jobs:write"),
    ("GET", "/api/v1/jobs/{job_id}/wait-reasons", "jobs:read"),
    ("GET", "/api/v1/console/overview", "jobs:read"),
    ("GET", "/api/v1/console/session", "jobs:read"),
    ("GET", "/api/v1/workers", "jobs:read"),
    ("GET", "/api/v1/workers/{worker_id}", "jobs:read"),
]
BODIES: dict[str, Any] = {
    "/api/v1/jobs": {"task_name": "nope"},
    "/api/v1/jobs/run-sync": {"task_name": "nope"},
    "/api/v1/schedules": {"name": "n", "task_name": "nope", "cron_expression": "0 0 * * *"},
    "/api/v1/schedules/{schedule_id}": {"name": "n"},
}


def concrete(path: str) -> str:
    return path.format(
        job_id="j1", schedule_id="s1", queue_name="default", task_name="echo", worker_id="w1"
    )


@pytest.fixture
async def auth_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app that also checks audience and issuer."""
    system = make_system(tmp_path, jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
    application = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with application.router.lifespan_context(application):
        yield application


async def call(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        return await client.request(
            method,
            concrete(path),
            headers=headers,
            json=BODIES.get(path) if method != "GET" else None,
        )


def good(scope: str, **extra: Any) -> dict[str, Any]:
    return claims(scope, aud=AUDIENCE, iss=ISSUER, **extra)


def test_the_route_table_covers_every_api_route(tmp_path: Path) -> None:
    app = create_app(make_system(tmp_path), embedded_worker=False, embedded_scheduler=False)
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    assert served == {(method, path) for method, path, _ in ROUTES}


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
async def test_every_route_checks_the_token(
    auth_app: FastAPI, method: str, path: str, scope: str
) -> None:
    others = {"jobs:read", "jobs:write", "jobs:admin"} - {scope, "jobs:admin"}
    unauthorized: dict[str, dict[str, str]] = {
        "no header": {},
        "not bearer": {"Authorization": f"Basic {sign(good(scope))}"},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "garbage": {"Authorization": "Bearer abc"},
        "expired": {"Authorization": f"Bearer {sign(good(scope, ttl=-60))}"},
        "wrong signature": {
            "Authorization": f"Bearer {sign(good(scope), 'another-secret-of-thirty-two-bytes!!')}"
        },
        "wrong audience": {
            "Authorization": f"Bearer {sign(claims(scope, aud='someone-else', iss=ISSUER))}"
        },
        "no audience": {"Authorization": f"Bearer {sign(claims(scope, iss=ISSUER))}"},
        "wrong issuer": {
            "Authorization": f"Bearer {sign(claims(scope, aud=AUDIENCE, iss='https://evil/'))}"
        },
        "no expiry": {
            "Authorization": "Bearer "
            + sign({"sub": "x", "scope": scope, "aud": AUDIENCE, "iss": ISSUER})
        },
        "alg none": {
            "Authorization": "Bearer " + jwt.encode(good(scope), None, algorithm="none")  # type: ignore[arg-type]
        },
    }
    for case, headers in unauthorized.items():
        response = await call(auth_app, method, path, headers)
        assert response.status_code == 401, (case, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer", case
        assert response.json()["detail"], case

    forbidden = await call(
        auth_app, method, path, {"Authorization": f"Bearer {sign(good(' '.join(others)))}"}
    )
    assert forbidden.status_code == 403, forbidden.text
    assert forbidden.json() == {"detail": f"Missing scope: {scope}"}

    for allowed in (scope, "jobs:admin"):
        response = await call(
            auth_app, method, path, {"Authorization": f"Bearer {sign(good(allowed))}"}
        )
        assert response.status_code not in (401, 403), (allowed, response.text)


async def test_scp_list_claim_is_read_too(auth_app: FastAPI) -> None:
    token = sign({**good(""), "scp": ["jobs:read"]})
    response = await call(auth_app, "GET", "/api/v1/jobs", {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_include_auth_false_needs_no_token(tmp_path: Path) -> None:
    app = create_app(
        make_system(tmp_path), embedded_worker=False, embedded_scheduler=False, include_auth=False
    )
    async with app.router.lifespan_context(app):
        for method, path, _ in ROUTES:
            response = await call(app, method, path, {})
            assert response.status_code not in (401, 403), (method, path)
    assert "securitySchemes" not in app.openapi().get("components", {})


async def test_without_a_configured_key_a_private_secret_file_is_used(tmp_path: Path) -> None:
    system = make_system(tmp_path, jwt_secret=None)
    system.settings = Settings(data_dir=tmp_path / "data")
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with app.router.lifespan_context(app):
        token = issue_token(system.settings, "me", ["jobs:read"], ttl=60)
        ok = await call(app, "GET", "/api/v1/jobs", {"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        forged = await call(
            app, "GET", "/api/v1/jobs", {"Authorization": f"Bearer {sign(claims('jobs:read'))}"}
        )
        assert forged.status_code == 401
    path = secret_path(system.settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) >= 32


# -- asymmetric keys ------------------------------------------------------------
def _pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def _status(app: FastAPI, token: str) -> int:
    async with app.router.lifespan_context(app):
        response = await call(app, "GET", "/api/v1/tasks", {"Authorization": f"Bearer {token}"})
        return response.status_code


@pytest.mark.parametrize("from_file", [False, True])
async def test_rs256_and_es256_with_a_pem_public_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, from_file: bool
) -> None:
    for key, algorithm in ((rsa_key, "RS256"), (ec_key, "ES256")):
        pem = _pem(key)
        if from_file:
            (tmp_path / f"{algorithm}.pem").write_text(pem)
            pem = str(tmp_path / f"{algorithm}.pem")
        system = make_system(tmp_path, jwt_public_key=pem)
        system.settings = Settings(data_dir=tmp_path / "data", jwt_public_key=pem)
        app = create_app(system, embedded_worker=False, embedded_scheduler=False)
        assert await _status(app, sign(claims("jobs:read"), key, algorithm)) == 200
        other = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if algorithm == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        assert await _status(app, sign(claims("jobs:read"), other, algorithm)) == 401
        # HS256 signed with the public key itself (algorithm confusion) must fail.
        assert await _status(app, sign(claims("jobs:read"), "x" * 32)) == 401
        assert await _status(app, sign(claims("jobs:read"), SECRET)) == 401


class _JwksServer:
    """A JWKS endpoint on 127.0.0.1, as an identity provider would serve it."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        body = json.dumps({"keys": keys}).encode()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks(rsa_key: rsa.RSAPrivateKey) -> Iterator[_JwksServer]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    with _JwksServer([{**public, "kid": "key-1", "use": "sig", "alg": "RS256"}]) as server:
        yield server


async def test_rs256_from_a_jwks_url(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, jwks: _JwksServer
) -> None:
    system = make_system(tmp_path)
    system.settings = Settings(
        data_dir=tmp_path / "data", jwt_jwks_url=jwks.url, jwt_audience=AUDIENCE
    )
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    token = sign(claims("jobs:read", aud=AUDIENCE), rsa_key, "RS256", headers={"kid": "key-1"})
    assert await _status(app, token) == 200
    assert await _status(app, token) == 200
    assert jwks.requests == 1  # keys are cached between requests
    unknown_kid = sign(claims("jobs:read", aud=AUDIENCE), rsa_key, "RS256", headers={"kid": "k9"})
    assert await _status(app, unknown_kid) == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sign(claims("jobs:read", aud=AUDIENCE), other, "RS256", headers={"kid": "key-1"})
    assert await _status(app, forged) == 401
    assert await _status(app, sign(claims("jobs:read", aud=AUDIENCE))) == 401


async def test_unreachable_jwks_is_503(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with _JwksServer([]) as server:
        url = server.url
    system = make_system(tmp_path)
    system.settings = Settings(data_dir=tmp_path / "data", jwt_jwks_url=url)
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    token = sign(claims("jobs:read"), rsa_key, "RS256", headers={"kid": "key-1"})
    started = time.monotonic()
    assert await _status(app, token) == 503
    assert time.monotonic() - started < 30


async def test_a_verified_token_is_remembered_only_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from uno.jobs.api import auth

    verifier = auth.TokenVerifier(Settings(jwt_secret=SECRET))
    checks: list[str] = []
    check_signature = verifier._verify

    async def counted(token: str) -> auth.Principal:
        checks.append(token)
        return await check_signature(token)

    monkeypatch.setattr(verifier, "_verify", counted)
    token = sign(claims("jobs:read", ttl=600))
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert len(checks) == 1  # the second call was served from memory
    expires = first.claims["exp"]
    monkeypatch.setattr(auth.time, "time", lambda: expires + 1)
    await verifier.verify(token)  # (PyJWT keeps its own clock, so it still passes)
    assert len(checks) == 2  # past its exp the memory is not trusted: checked again
