"""The first ten minutes: help, version, migrate's report, SQLite paths that are
neither guessed nor created, the data folder, and `make run` on a busy or chosen port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import REPO, Cli, assert_one_line_failure

from processes import clean_env, free_port, wait_until_ready
from uno.jobs import JobSystem
from uno.jobs.cli import build_command
from uno.jobs.cli.migrate import migration_report

pytestmark = pytest.mark.slow

#: A type shown where a metavar belongs: ``<bool>``, ``<int range>``, ``<str>``...
TYPE_METAVAR = re.compile(r"<[a-z][a-z ]*>")


def every_command(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += every_command(sub, (*path, name))
    return found


def test_help_shows_no_type_metavars(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    top = cli("--help")
    assert top.returncode == 0 and "jobs" in top.stdout and "status" in top.stdout
    assert not TYPE_METAVAR.search(top.stdout), top.stdout
    command = build_command()  # the command ``main`` runs, for every subcommand's help
    paths = every_command(command)
    assert ("jobs", "list") in paths and ("schedules", "run") in paths and ("status",) in paths
    capsys.readouterr()
    for path in paths:
        status = command.main([*path, "--help"], prog_name="uno-jobs", standalone_mode=False)
        output = capsys.readouterr().out
        assert status == 0 and "Usage: uno-jobs" in output, (path, output)
        assert not TYPE_METAVAR.search(output), (path, output)


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"uno-jobs {version('uno-jobs')}"


def test_migrate_says_what_it_did_with_the_resolved_path(cli: Cli) -> None:
    created = cli("migrate", "--database", "sqlite:///relative.db")
    assert created.returncode == 0, created.stderr
    shown = f"sqlite:///{cli.cwd / 'relative.db'}"
    assert re.fullmatch(
        rf"{re.escape(shown)}: schema created \(\d+ migrations, now at \w+\)\n", created.stdout
    ), created.stdout
    again = cli("migrate", "--database", "sqlite:///relative.db")
    assert again.stdout.startswith(f"{shown}: schema up to date (at ")


def test_migrate_creates_the_schema_the_commands_use(cli: Cli, empty_database: str) -> None:
    """On both backends (PostgreSQL in the schema the URL names): what the ``database``
    fixture of the other CLI tests does in-process, done once by the command itself."""
    created = cli("migrate", "--database", empty_database)
    assert created.returncode == 0, created.stderr
    assert ": schema created (" in created.stdout, created.stdout
    assert cli.json("jobs", "list", "--database", empty_database)["total"] == 0


def test_migration_reports() -> None:
    shipped = ["0001_a", "0002_b", "0003_c"]
    assert migration_report([], shipped) == "schema up to date (at 0003_c)"
    assert migration_report(shipped, shipped) == "schema created (3 migrations, now at 0003_c)"
    assert (
        migration_report(["0003_c"], shipped)
        == "schema upgraded from 0002_b to 0003_c (applied 0003_c)"
    )


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_a_missing_sqlite_folder_is_an_error_not_created(cli: Cli, command: str) -> None:
    result = cli(command, "--database", "sqlite:///nonexistent/dir/jobs.db")
    assert_one_line_failure(result, 1, f"SQLite database folder {cli.cwd}/nonexistent/dir")
    assert not (cli.cwd / "nonexistent").exists()


def test_a_database_url_keeps_the_working_directory_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("UNO_JOBS_DATA_DIR", raising=False)

    async def use() -> JobSystem:
        async with JobSystem(f"sqlite:///{tmp_path / 'x.db'}") as system:
            await system.enqueue_by_name("anything")
        return system

    system = asyncio.run(use())
    assert list(workdir.iterdir()) == []
    assert system.settings.data_dir == tmp_path / ".uno-jobs"  # beside the database file


def make_run(port: int, data: Path, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(REPO), "run", f"PORT={port}"],
        env=clean_env(UNO_JOBS_DATA_DIR=str(data), PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # make and the server it starts stop together
        **popen,
    )


def test_make_run_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = make_run(port, tmp_path / "data")
        out, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "uno-jobs API on" not in out and "Admin token" not in out, out
    ours = [line for line in err.splitlines() if line.startswith("uno-jobs:")]
    assert ours == [
        f"uno-jobs: Port {port} on 127.0.0.1 is already in use: stop what listens there, "
        "or choose another port with --port (make run PORT=...)"
    ], err
    assert "Traceback" not in err
    assert not (tmp_path / "data" / "demo.db").exists()  # nothing was started


def test_make_run_serves_on_the_port_it_is_given(tmp_path: Path) -> None:
    port = free_port()
    process = make_run(port, tmp_path / "data")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, lambda: "", timeout=120)
        home = httpx.get(f"{base}/", follow_redirects=False)
        assert home.status_code == 307 and home.headers["location"] == "/dashboard"
        assert httpx.get(f"{base}/dashboard").status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert f"uno-jobs API on {base}" in out
    assert f"Database: sqlite:///{tmp_path / 'data' / 'demo.db'}" in out
