"""The ``uno-jobs`` command as a real process, for the CLI tests (the fixtures are in
this folder's ``conftest.py``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processes import clean_env
from uno.jobs.private_files import prepare_sqlite_file
from uno.jobs.queries import JobFilter
from uno.jobs.settings import Settings
from uno.jobs.store import create_store

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


def migrated(url: str) -> str:
    """``url``, once its schema is created as ``uno-jobs migrate`` creates it (the default
    settings, the SQLite file private), in this process."""
    settings = Settings(database_url=url)
    if url.startswith("sqlite:"):
        prepare_sqlite_file(settings)

    async def migrate() -> None:
        store = create_store(url, settings=settings)
        try:
            await store.open()  # opening applies the migrations
        finally:
            await store.close()

    asyncio.run(migrate())
    return url


def total_jobs(url: str) -> int:
    """How many jobs the database holds, read in this process."""

    async def count() -> int:
        store = create_store(url)
        await store.open()
        try:
            return (await store.list_jobs(JobFilter(limit=1)))[1]
        finally:
            await store.close()

    return asyncio.run(count())
