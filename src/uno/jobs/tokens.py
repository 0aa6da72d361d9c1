"""Signing keys and tokens of the Jobs API, without the web framework.

``uno-jobs token`` and ``uno-jobs serve`` use these to print tokens, so a worker
process never has to import FastAPI.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt

from uno.jobs.settings import Settings

SCOPE_READ = "jobs:read"
SCOPE_WRITE = "jobs:write"
SCOPE_ADMIN = "jobs:admin"
ALL_SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN)
SECRET_FILE = "jwt-secret"


def has_configured_key(settings: Settings) -> bool:
    return bool(settings.jwt_secret or settings.jwt_public_key or settings.jwt_jwks_url)


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def ensure_secret(settings: Settings) -> str:
    """The HS256 secret: the configured one, else the data folder's (created if missing)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = secret_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def issue_token(
    settings: Settings,
    subject: str = "admin",
    scopes: Iterable[str] = ALL_SCOPES,
    ttl: float = 3600,
) -> str:
    """An HS256 token the API accepts: signed with ``ensure_secret(settings)``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + int(ttl),
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, ensure_secret(settings), algorithm="HS256")
