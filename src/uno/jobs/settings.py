"""One validated settings object, read from the environment or built in code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from uno.jobs.limits import Limits

ENV_PREFIX = "UNO_JOBS_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that configures a job system, its workers and its API.

    ``data_dir`` holds the SQLite file and the generated JWT secret when no
    database URL or key is configured.
    """

    database_url: str | None = None
    data_dir: Path = field(default_factory=lambda: Path(".uno-jobs"))
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256", "RS256", "ES256")
    cors_origins: tuple[str, ...] = ()
    concurrency: int = 10
    heartbeat_interval: float = 5.0
    rescue_after: float = 30.0
    shutdown_grace: float = 30.0
    retention: float = 7 * 24 * 3600.0
    #: Every bound a caller controls (``uno.jobs.limits``).
    limits: Limits = field(default_factory=Limits)

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'jobs.db'}"

    def with_(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value not in (None, "") else None

        def number(name: str, default: float) -> float:
            value = get(name)
            if value is None:
                return default
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{name} must be a number, got {value!r}") from None

        origins = get("CORS_ORIGINS")
        return cls(
            database_url=get("DATABASE_URL"),
            data_dir=Path(get("DATA_DIR") or ".uno-jobs"),
            jwt_secret=get("JWT_SECRET"),
            jwt_public_key=get("JWT_PUBLIC_KEY"),
            jwt_jwks_url=get("JWT_JWKS_URL"),
            jwt_audience=get("JWT_AUDIENCE"),
            jwt_issuer=get("JWT_ISSUER"),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip())
            if origins
            else (),
            concurrency=int(number("CONCURRENCY", 10)),
            heartbeat_interval=number("HEARTBEAT_INTERVAL", 5.0),
            rescue_after=number("RESCUE_AFTER", 30.0),
            shutdown_grace=number("SHUTDOWN_GRACE", 30.0),
            retention=number("RETENTION", 7 * 24 * 3600.0),
            limits=Limits.from_env(env),
        )
