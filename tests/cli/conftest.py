"""Fixtures of the CLI tests: a folder to run ``uno-jobs`` in, and a fresh database.

``database`` is a SQLite file in the test's folder, or a fresh PostgreSQL schema,
skipped with the reason where PostgreSQL is unreachable and failing in CI (the
suite's ``skip_or_fail``). That helper lives in the suite's root ``conftest.py``,
which cannot be imported by name from here (this module is a ``conftest`` too), so
it is found among pytest's plugins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from cli_support import Cli


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
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL the schema was created in (by ``uno-jobs migrate``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        yield _migrated(url, tmp_path)
        return
    suite = suite_conftest(request.config)
    problem = suite.postgres_problem()
    if problem:
        suite.skip_or_fail(problem)
    schema = f"test_cli_{uuid.uuid4().hex[:12]}"
    try:
        yield _migrated(f"{suite.POSTGRES_URL}?schema={schema}", tmp_path)
    finally:
        suite.drop_schema(schema)


def _migrated(url: str, cwd: Path) -> str:
    result = Cli(cwd=cwd, env={})("migrate", "--database", url)
    assert result.returncode == 0, result.stderr
    return url
