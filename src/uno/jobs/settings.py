"""One validated settings object, read from the environment or built in code."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from uno.jobs.envvars import numbers_from_env
from uno.jobs.limits import Limits

ENV_PREFIX = "UNO_JOBS_"

#: The data folder when none is configured and no SQLite file URL is given.
DEFAULT_DATA_DIR = Path(".uno-jobs")
SQLITE_PREFIX = "sqlite:///"

_D = TypeVar("_D", bool, None)


def sqlite_target(url: str) -> str:
    """What SQLite opens for ``sqlite:///relative.db`` or ``sqlite:////absolute.db``:
    the file's path, or ``:memory:`` / a ``file:`` URI as written; ``ValueError``
    for any other URL."""
    target = url.removeprefix(SQLITE_PREFIX).split("?", 1)[0]
    if not url.startswith(SQLITE_PREFIX) or not target:
        raise ValueError(f"Not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return target


def sqlite_file(url: str) -> Path | None:
    """The database file a ``sqlite:///`` URL names; ``None`` for other URLs,
    ``:memory:`` and ``file:`` URIs (which SQLite reads itself)."""
    try:
        target = sqlite_target(url)
    except ValueError:
        return None
    if target == ":memory:" or target.startswith("file:"):
        return None
    return Path(target)


def data_dir_beside(database_file: Path) -> Path:
    """The data folder of a SQLite file: a ``.uno-jobs`` folder beside it (the
    folder itself when it is one), never the file's own folder, which may be
    shared (``/tmp``, a home folder) and would be made private."""
    folder = database_file.parent
    return folder if folder.name == DEFAULT_DATA_DIR.name else folder / DEFAULT_DATA_DIR.name


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite file path made absolute (from the working
    directory, as SQLite would read it), so banners and logs say which file is used."""
    path = sqlite_file(url)
    if path is None or path.is_absolute():
        return url
    _, query_sep, query = url.partition("?")
    return f"{SQLITE_PREFIX}{path.absolute()}{query_sep}{query}"


#: The words a yes/no setting accepts, either case (``UNO_JOBS_WORKER_DURABLE_ACKS``).
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def flag_from_env(environ: Mapping[str, str], name: str, default: _D) -> bool | _D:
    """The yes/no setting ``name`` (``1/true/yes/on``, ``0/false/no/off``);
    ``default`` when unset or empty. Anything else is refused, so a typo never
    turns a setting off unnoticed."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"{name} must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}, got {raw!r}")


#: Shortest HS256 secret accepted: RFC 7518 asks for a key as long as the hash
#: (32 bytes); a shorter one can be found offline from any token it signed.
MIN_SECRET_BYTES = 32


def check_secret(secret: str, source: str) -> str:
    """``secret`` if it is long enough to sign HS256 tokens; ``ValueError`` naming ``source``."""
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        raise ValueError(
            f"{source} is too short ({size} bytes): an HS256 secret needs at least "
            f"{MIN_SECRET_BYTES} bytes (make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return secret


_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@?#\s]*:)[^@/?#\s]*(?=@)", re.I)
_PARAM_PASSWORD = re.compile(r"(?P<head>(?:^|[?&\s])password=)[^&\s]*", re.I)


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for banners, logs and errors.

    Both the ``user:password@`` form and a ``password=`` query or keyword
    parameter are masked, also where the URL is part of a longer text.
    """
    url = _URL_PASSWORD.sub(r"\g<head>***", url)
    return _PARAM_PASSWORD.sub(r"\g<head>***", url)


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """How the PostgreSQL store connects, and how long it waits for the database.

    The defaults let a request, a probe or a command fail within a few seconds
    when the database is down or unreachable, instead of waiting for the
    operating system's TCP timeouts. Each field has an environment setting
    ``UNO_JOBS_PG_<FIELD>``; the libpq parameters of the same name in the
    database URL (``?connect_timeout=10``, ``?keepalives_idle=30``,
    ``?options=-c statement_timeout=0``) take precedence over them.
    """

    #: Seconds to establish a connection (libpq counts whole seconds, at least 2; 0: none).
    connect_timeout: int = 3
    #: Seconds a caller waits for a pooled connection before the store is unavailable.
    pool_timeout: float = 5.0
    #: Seconds one statement may run before the server cancels it (0: no limit).
    #: Migrations run without it.
    statement_timeout: float = 30.0
    #: Seconds of silence on a connection before TCP keepalive probes start.
    keepalives_idle: int = 10
    #: Seconds between two keepalive probes.
    keepalives_interval: int = 5
    #: Unanswered probes after which the connection counts as dead.
    keepalives_count: int = 3

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{self.env_name(spec.name)} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{self.env_name(spec.name)} must be 0 or more, got {value!r}")
        if self.pool_timeout <= 0:
            raise ValueError(f"{self.env_name('pool_timeout')} must be positive")
        if min(self.keepalives_idle, self.keepalives_interval, self.keepalives_count) < 1:
            raise ValueError("PostgreSQL keepalive settings must be 1 or more")

    @staticmethod
    def env_name(field_name: str) -> str:
        return f"{ENV_PREFIX}PG_{field_name.upper()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PostgresSettings:
        """The defaults, with each ``UNO_JOBS_PG_<FIELD>`` present in ``environ`` applied."""
        return cls(**numbers_from_env(cls, environ, cls.env_name))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that configures a job system, its workers and its API.

    ``data_dir`` holds the SQLite file and the generated JWT secret when no
    database URL or key is configured; it is kept private to its owner (0700).
    Left at its default while a SQLite file URL is given, it is a ``.uno-jobs``
    folder beside that file: the data follows the database, not the working
    directory (nothing is created until a file must go there). A
    relative SQLite path is made absolute when the settings are made.
    A ``jwt_secret`` shorter than ``MIN_SECRET_BYTES`` is refused.
    """

    database_url: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256", "RS256", "ES256")
    cors_origins: tuple[str, ...] = ()
    concurrency: int = 10
    #: Jobs a worker claims ahead of its free slots (0: none; see ``Worker``).
    worker_prefetch: int = 20
    heartbeat_interval: float = 5.0
    rescue_after: float = 30.0
    shutdown_grace: float = 30.0
    retention: float = 7 * 24 * 3600.0
    #: Whether a worker's claims, outcomes and heartbeats wait for the database's
    #: flush to disk at commit (``UNO_JOBS_WORKER_DURABLE_ACKS``). Off, a crash of
    #: the database server or its machine can forget the last ones, and those jobs
    #: run again; enqueues and every other write commit as they would anyway.
    #: ``None``: the store's own default, durable on PostgreSQL (as every write
    #: there), asynchronous on SQLite (as every write there: ``synchronous=NORMAL``);
    #: docs/architecture.md, "Acknowledgements".
    worker_durable_acks: bool | None = None
    #: Every bound a caller controls (``uno.jobs.limits``).
    limits: Limits = field(default_factory=Limits)
    #: Timeouts and keepalives of PostgreSQL connections.
    postgres: PostgresSettings = field(default_factory=PostgresSettings)

    def __post_init__(self) -> None:
        if self.jwt_secret is not None:
            check_secret(self.jwt_secret, f"{ENV_PREFIX}JWT_SECRET")
        if self.database_url:
            object.__setattr__(self, "database_url", absolute_sqlite_url(self.database_url))
            database_file = sqlite_file(self.database_url)
            if self.data_dir == DEFAULT_DATA_DIR and database_file is not None:
                object.__setattr__(self, "data_dir", data_dir_beside(database_file))

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in ``data_dir`` (absolute)."""
        if self.database_url:
            return self.database_url
        return absolute_sqlite_url(f"{SQLITE_PREFIX}{self.data_dir / 'jobs.db'}")

    @property
    def shown_database_url(self) -> str:
        """``resolved_database_url`` with any password masked, for banners and logs."""
        return masked_url(self.resolved_database_url)

    def with_(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; ``None`` values are ignored.

        A new database URL takes the data folder along when that folder was
        the old SQLite file's (see the class docstring).
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        if "database_url" in changes and "data_dir" not in changes and self._data_dir_follows():
            changes["data_dir"] = DEFAULT_DATA_DIR
        return replace(self, **changes)

    def _data_dir_follows(self) -> bool:
        """Whether ``data_dir`` is the default one or the SQLite file's folder."""
        database_file = sqlite_file(self.database_url or "")
        followed = data_dir_beside(database_file) if database_file is not None else None
        return self.data_dir in (DEFAULT_DATA_DIR, followed)

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
            data_dir=Path(get("DATA_DIR") or DEFAULT_DATA_DIR),
            jwt_secret=get("JWT_SECRET"),
            jwt_public_key=get("JWT_PUBLIC_KEY"),
            jwt_jwks_url=get("JWT_JWKS_URL"),
            jwt_audience=get("JWT_AUDIENCE"),
            jwt_issuer=get("JWT_ISSUER"),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip())
            if origins
            else (),
            concurrency=int(number("CONCURRENCY", 10)),
            worker_prefetch=int(number("WORKER_PREFETCH", 20)),
            heartbeat_interval=number("HEARTBEAT_INTERVAL", 5.0),
            rescue_after=number("RESCUE_AFTER", 30.0),
            shutdown_grace=number("SHUTDOWN_GRACE", 30.0),
            retention=number("RETENTION", 7 * 24 * 3600.0),
            worker_durable_acks=flag_from_env(env, f"{ENV_PREFIX}WORKER_DURABLE_ACKS", None),
            limits=Limits.from_env(env),
            postgres=PostgresSettings.from_env(env),
        )
