"""Bearer JWT authentication and the three scopes of the Jobs API.

Keys: an HS256 secret (``UNO_JOBS_JWT_SECRET``), an RS256/ES256 public key in PEM
(``UNO_JOBS_JWT_PUBLIC_KEY``, the PEM text or a file path) or an identity
provider's JWKS URL (``UNO_JOBS_JWT_JWKS_URL``). With none of them configured,
a random secret is created once in ``data_dir/jwt-secret`` (mode 0600) so that
``uno-jobs serve`` and ``uno-jobs token`` work together out of the box.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from uno.jobs.settings import Settings
from uno.jobs.system import JobSystem
from uno.jobs.tokens import (
    ALL_SCOPES,
    SCOPE_ADMIN,
    SCOPE_READ,
    SCOPE_WRITE,
    ensure_secret,
    has_configured_key,
    issue_token,
    secret_path,
)

__all__ = [
    "ALL_SCOPES",
    "SCOPE_ADMIN",
    "SCOPE_READ",
    "SCOPE_WRITE",
    "Principal",
    "TokenVerifier",
    "admit",
    "ensure_secret",
    "has_configured_key",
    "issue_token",
    "scope_dependency",
    "secret_path",
    "verifier_for",
]

#: Where ``uno.jobs.api.admission`` leaves the caller it admitted before the body
#: was read, so that the route's own check does not verify the token again.
PRINCIPAL_KEY = "uno.jobs.principal"

#: Documents the scheme in OpenAPI; missing or non-Bearer headers reach our own 401.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    bearerFormat="JWT",
    description="A JWT whose `scope` claim holds jobs:read, jobs:write or jobs:admin.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called, and what they may do."""

    subject: str | None
    scopes: frozenset[str]
    claims: dict[str, Any] = field(default_factory=dict)

    def allows(self, scope: str) -> bool:
        """``jobs:admin`` implies the other two scopes."""
        return scope in self.scopes or SCOPE_ADMIN in self.scopes


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def _load_public_key(value: str) -> str:
    """PEM text as given, or read from the file it names."""
    if value.lstrip().startswith("-----BEGIN"):
        return value
    return Path(value).expanduser().read_text()


class TokenVerifier:
    """Checks signature, expiry, audience and issuer of a bearer token."""

    def __init__(self, settings: Settings) -> None:
        self.algorithms = tuple(settings.jwt_algorithms)
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.secret = settings.jwt_secret
        if not has_configured_key(settings):
            self.secret = ensure_secret(settings)
        self.public_key = (
            _load_public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        )
        self.jwks = (
            jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300)
            if settings.jwt_jwks_url
            else None
        )
        self.max_token_bytes = settings.limits.max_token_bytes
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._verified_bytes = 0

    #: How many verified tokens are remembered (each until its ``exp``)...
    cache_size = 1024
    #: ...and how many characters of token they may hold together: a token's claims
    #: are decoded from its text, so this bounds the memory of the whole cache.
    cache_chars = 2 * 1024 * 1024

    async def verify(self, token: str) -> Principal:
        """The caller behind a valid token; raises a 401 (503 when keys are unreachable).

        A token longer than ``Limits.max_token_bytes`` is refused before it is
        decoded. A token verified once is remembered until it expires: clients
        send the same token with every request, and checking its signature again
        would cost a fifth of a small request's time.
        """
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if time.time() < expires:
                return principal
            self._forget(token)
        if len(token) > self.max_token_bytes:
            raise unauthorized(f"Invalid token: longer than {self.max_token_bytes} bytes")
        principal = await self._verify(token)
        self._remember(token, principal)
        return principal

    def _remember(self, token: str, principal: Principal) -> None:
        """Keep ``token``, dropping the oldest ones past either bound of the cache."""
        expires = _expiry(principal.claims)
        if token in self._verified:
            return  # verified twice at once: the first one is kept
        while self._verified and (
            len(self._verified) >= self.cache_size
            or self._verified_bytes + len(token) > self.cache_chars
        ):
            self._forget(next(iter(self._verified)))
        self._verified[token] = (principal, expires)
        self._verified_bytes += len(token)

    def _forget(self, token: str) -> None:
        if self._verified.pop(token, None) is not None:
            self._verified_bytes -= len(token)

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("Invalid token: not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise unauthorized(f"Invalid token: algorithm {algorithm!r} is not accepted")
        key = await self._key_for(algorithm, token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("Token has expired") from None
        except jwt.PyJWTError as exc:
            raise unauthorized(f"Invalid token: {exc}") from None
        except (OverflowError, ValueError, TypeError):
            raise unauthorized("Invalid token: a claim is out of range") from None
        return Principal(claims.get("sub"), _scopes(claims), claims)

    async def _key_for(self, algorithm: str, token: str) -> Any:
        if algorithm.startswith("HS"):
            if not self.secret:
                raise unauthorized("Invalid token: HMAC tokens are not accepted here")
            return self.secret
        if self.jwks is not None:
            try:
                signing_key = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWKClientConnectionError as exc:
                raise HTTPException(503, detail=f"Cannot fetch signing keys: {exc}") from None
            except jwt.PyJWTError as exc:
                raise unauthorized(f"Invalid token: {exc}") from None
            return signing_key.key
        if self.public_key is not None:
            return self.public_key
        raise unauthorized(f"Invalid token: no public key configured for {algorithm}")


def _expiry(claims: dict[str, Any]) -> float:
    """The ``exp`` claim as a timestamp; a 401 when a date claim is not a finite number.

    PyJWT accepts any integer (or integer text) in ``exp``, ``iat`` and ``nbf``,
    however large; one that no float can hold would otherwise fail later, as a
    server error.
    """
    dates = {}
    for name in ("exp", "iat", "nbf"):
        if name not in claims:
            continue
        try:
            dates[name] = float(claims[name])
        except (OverflowError, ValueError, TypeError):
            dates[name] = math.inf
        if not math.isfinite(dates[name]):
            raise unauthorized(f"Invalid token: the {name} claim is out of range")
    if "exp" not in dates:
        raise unauthorized("Invalid token: the exp claim is missing")
    return dates["exp"]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """Scopes from the OAuth 2.0 ``scope`` claim (or the ``scp`` list some providers use)."""
    scope = claims.get("scope")
    scopes = set(scope.split()) if isinstance(scope, str) else set()
    scp = claims.get("scp")
    if isinstance(scp, str):
        scopes.update(scp.split())
    elif isinstance(scp, list):
        scopes.update(s for s in scp if isinstance(s, str))
    return frozenset(scopes)


@functools.lru_cache(maxsize=32)
def verifier_for(settings: Settings) -> TokenVerifier:
    """One verifier per settings, so the JWKS cache lives across requests."""
    return TokenVerifier(settings)


SystemProvider = Callable[..., Awaitable[JobSystem]]


def scope_dependency(scope: str, provider: SystemProvider) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets a request through only with a token carrying ``scope``."""

    system_dep = Depends(provider)

    async def require_scope(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        system: JobSystem = system_dep,
    ) -> Principal:
        admitted: Principal | None = request.scope.get(PRINCIPAL_KEY)
        if admitted is not None and admitted.allows(scope):
            return admitted
        return await admit(system, scope, credentials)

    return require_scope


async def admit(
    system: JobSystem, scope: str, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, if their bearer token is valid and carries ``scope``; else 401 or 403."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("Not authenticated: send Authorization: Bearer <token>")
    principal = await verifier_for(system.settings).verify(credentials.credentials)
    if not principal.allows(scope):
        raise HTTPException(403, detail=f"Missing scope: {scope}")
    return principal
