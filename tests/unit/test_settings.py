"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from uno.jobs.settings import PostgresSettings, Settings, masked_url


def test_defaults_point_at_the_embedded_sqlite_file() -> None:
    settings = Settings.from_env({})
    # Relative paths are shown resolved, so a banner says which file is used.
    assert settings.resolved_database_url == f"sqlite:///{Path('.uno-jobs').absolute() / 'jobs.db'}"
    assert settings.jwt_secret is None


def test_environment_overrides() -> None:
    settings = Settings.from_env(
        {
            "UNO_JOBS_DATABASE_URL": "postgresql://db/x",
            "UNO_JOBS_JWT_SECRET": "s3cret" * 6,
            "UNO_JOBS_CORS_ORIGINS": "http://a.example, http://b.example",
            "UNO_JOBS_CONCURRENCY": "4",
        }
    )
    assert settings.resolved_database_url == "postgresql://db/x"
    assert settings.jwt_secret == "s3cret" * 6
    assert settings.cors_origins == ("http://a.example", "http://b.example")
    assert settings.concurrency == 4


def test_bad_number_is_named() -> None:
    with pytest.raises(ValueError, match="UNO_JOBS_RESCUE_AFTER"):
        Settings.from_env({"UNO_JOBS_RESCUE_AFTER": "soon"})


@pytest.mark.parametrize("secret", ["a", "x" * 31, "é" * 15])
def test_a_jwt_secret_under_32_bytes_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match=r"UNO_JOBS_JWT_SECRET is too short .* at least 32 bytes"):
        Settings.from_env({"UNO_JOBS_JWT_SECRET": secret})
    with pytest.raises(ValueError, match="too short"):
        Settings(jwt_secret=secret)
    assert Settings(jwt_secret="x" * 32).jwt_secret == "x" * 32


def test_postgres_timeouts_answer_within_seconds_by_default() -> None:
    pg = Settings.from_env({}).postgres
    assert pg == PostgresSettings()
    assert (pg.connect_timeout, pg.pool_timeout, pg.statement_timeout) == (3, 5.0, 30.0)
    assert (pg.keepalives_idle, pg.keepalives_interval, pg.keepalives_count) == (10, 5, 3)


def test_postgres_timeouts_from_the_environment() -> None:
    pg = Settings.from_env(
        {
            "UNO_JOBS_PG_CONNECT_TIMEOUT": "7",
            "UNO_JOBS_PG_POOL_TIMEOUT": "1.5",
            "UNO_JOBS_PG_STATEMENT_TIMEOUT": "0",
            "UNO_JOBS_PG_KEEPALIVES_IDLE": "30",
            "UNO_JOBS_PG_KEEPALIVES_INTERVAL": "2",
            "UNO_JOBS_PG_KEEPALIVES_COUNT": "4",
        }
    ).postgres
    assert pg == PostgresSettings(7, 1.5, 0.0, 30, 2, 4)


@pytest.mark.parametrize(
    ("name", "value"),
    [("POOL_TIMEOUT", "0"), ("CONNECT_TIMEOUT", "-1"), ("STATEMENT_TIMEOUT", "nan"),
     ("KEEPALIVES_COUNT", "0"), ("CONNECT_TIMEOUT", "2.5")],
)  # fmt: skip
def test_bad_postgres_timeouts_are_named(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"UNO_JOBS_PG_{name}|keepalive"):
        Settings.from_env({f"UNO_JOBS_PG_{name}": value})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://postgres:hunter2@db:5432/x", "postgresql://postgres:***@db:5432/x"),
        ("postgresql://u@db/x?password=hunter2&sslmode=require",
         "postgresql://u@db/x?password=***&sslmode=require"),
        ("failed at postgresql://u:hunter2@db/x: refused",
         "failed at postgresql://u:***@db/x: refused"),
        ("postgresql://db/x", "postgresql://db/x"),
        ("sqlite:////data/jobs.db", "sqlite:////data/jobs.db"),
    ],
)  # fmt: skip
def test_passwords_are_masked_wherever_a_url_is_shown(url: str, shown: str) -> None:
    assert masked_url(url) == shown
    assert Settings(database_url=url).shown_database_url == shown
