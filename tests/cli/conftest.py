"""Fixtures of the CLI tests: a folder to run ``uno-jobs`` in, and a fresh database.

``database`` is a SQLite file in the test's folder, or a fresh PostgreSQL schema,
skipped with the reason where PostgreSQL is unreachable and failing in CI (the
suite's ``skip_or_fail``). That helper lives in the suite's root ``conftest.py``,
which cannot be imported by name from here (this module is a ``conftest`` too), so
it is found among pytest's plugins.

The schema is created in this process, as ``uno-jobs migrate`` creates it
(``cli_support.migrated``), not by running that command for every test: a start of
the command costs about as much as the rest of a short test.
``test_migrate_creates_the_schema_the_commands_use`` runs it on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from cli_support import Cli, migrated


def suite_conftest(config: pytest.Config) -> ModuleType:
    """The suite's root ``conftest`` module, as pytest loaded it."""
    root = Path(__file__).resolve().parents[1] / "conftest.py"
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and getattr(plugin, "__file__", None) == str(root):
            return plugin
    raise LookupError(f"{root} is not loaded")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(cwd=tmp_path, env={"PYTHONUNBUFFERED": "1"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with no schema yet (a SQLite file not created, a PostgreSQL schema
    not made), dropped afterwards."""
    url = fresh_database_url(request, tmp_path)
    try:
        yield url
    finally:
        if request.param == "postgres":
            suite_conftest(request.config).drop_schema(url.rsplit("?schema=", 1)[1])


@pytest.fixture
def database(empty_database: str) -> str:
    """A database URL the schema was created in."""
    return migrated(empty_database)


def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file in the test's folder or a new PostgreSQL schema (skipped, or failed
    in CI, where PostgreSQL cannot be reached)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    suite = suite_conftest(request.config)
    problem = suite.postgres_problem()
    if problem:
        suite.skip_or_fail(problem)
    return f"{suite.POSTGRES_URL}?schema=test_cli_{uuid.uuid4().hex[:12]}"
