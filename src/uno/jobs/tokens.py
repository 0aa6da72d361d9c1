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

from uno.jobs.errors import SecretNotFound
from uno.jobs.private_files import PRIVATE_FILE_MODE, private_dir
from uno.jobs.settings import ENV_PREFIX, Settings, check_secret

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
    """The HS256 secret: the configured one, else the data folder's (created if missing).

    The folder is made private (0700) and the file is created 0600.
    """
    if settings.jwt_secret:
        return settings.jwt_secret
    path = secret_path(settings)
    private_dir(path.parent)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return _read_secret(path)


def find_secret(settings: Settings) -> str:
    """The secret a running server signs with, never a new one.

    ``uno-jobs token`` run from another folder than ``serve`` (or with another
    ``UNO_JOBS_DATA_DIR``) would otherwise make a secret of its own and print a
    token that server refuses; ``SecretNotFound`` says where it looked instead.
    """
    if settings.jwt_secret:
        return settings.jwt_secret
    path = secret_path(settings)
    if not path.is_file():
        raise SecretNotFound(
            f"no JWT secret to sign with: {ENV_PREFIX}JWT_SECRET is not set and "
            f"{path.absolute()} does not exist; set {ENV_PREFIX}JWT_SECRET, or point "
            f"{ENV_PREFIX}DATA_DIR (or --data-dir) at the data folder of the server"
        )
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    return check_secret(path.read_text().strip(), f"the JWT secret in {path}")


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
