"""Fixtures of the CLI tests: the ``uno-jobs`` command as a real process, on a fresh
database per test (imported by each test module: a conftest here would shadow the
suite's own ``conftest`` module, whose PostgreSQL helpers these use).

``database`` is a SQLite file in the test's folder, or a fresh PostgreSQL schema
(skipped with the reason where PostgreSQL is unreachable, failing in CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import POSTGRES_URL, drop_schema, postgres_problem, skip_or_fail
from processes import clean_env

UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    """Runs ``uno-jobs`` in ``cwd`` with a clean environment (plus ``env``)."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [UNO_JOBS, *args],
            cwd=self.cwd,
            env=clean_env(**self.env),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
        )

    def json(self, *args: str) -> Any:
        """The JSON a command printed with ``--json``; fails the test on a non-zero exit."""
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def assert_one_line_failure(
    result: subprocess.CompletedProcess[str], status: int, contains: str
) -> None:
    """The command failed with ``status`` and one line on stderr that says ``contains``."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("uno-jobs: ") or "Error" in lines[0], lines[0]
    assert contains in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


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
    problem = postgres_problem()
    if problem:
        skip_or_fail(problem)
    schema = f"test_cli_{uuid.uuid4().hex[:12]}"
    try:
        yield _migrated(f"{POSTGRES_URL}?schema={schema}", tmp_path)
    finally:
        drop_schema(schema)


def _migrated(url: str, cwd: Path) -> str:
    result = Cli(cwd=cwd, env={})("migrate", "--database", url)
    assert result.returncode == 0, result.stderr
    return url
