"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from uno.jobs.settings import Settings


def test_defaults_point_at_the_embedded_sqlite_file() -> None:
    settings = Settings.from_env({})
    assert settings.resolved_database_url == f"sqlite:///{Path('.uno-jobs') / 'jobs.db'}"
    assert settings.jwt_secret is None


def test_environment_overrides() -> None:
    settings = Settings.from_env(
        {
            "UNO_JOBS_DATABASE_URL": "postgresql://db/x",
            "UNO_JOBS_JWT_SECRET": "s3cret",
            "UNO_JOBS_CORS_ORIGINS": "http://a.example, http://b.example",
            "UNO_JOBS_CONCURRENCY": "4",
        }
    )
    assert settings.resolved_database_url == "postgresql://db/x"
    assert settings.jwt_secret == "s3cret"
    assert settings.cors_origins == ("http://a.example", "http://b.example")
    assert settings.concurrency == 4


def test_bad_number_is_named() -> None:
    with pytest.raises(ValueError, match="UNO_JOBS_RESCUE_AFTER"):
        Settings.from_env({"UNO_JOBS_RESCUE_AFTER": "soon"})
