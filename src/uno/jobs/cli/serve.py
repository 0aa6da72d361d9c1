"""`uno-jobs serve`: the API server with an embedded worker and scheduler.

Both loops run in the server's event loop via the app's lifespan. With no JWT key
configured, a secret is created in the data folder and a ready admin token is
printed to the terminal (or written to ``admin-token`` in the data folder when
there is none), so the API can be called straight away. Requests are not logged one by
one unless ``--access-log`` asks for it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import AppOption, DatabaseOption, LogLevelOption, load_system
from uno.jobs.cli.ports import check_port_free
from uno.jobs.limits import DEFAULT_LIMITS, Limits
from uno.jobs.private_files import prepare_sqlite_file, write_private_file
from uno.jobs.settings import Settings
from uno.jobs.store import create_store
from uno.jobs.system import JobSystem
from uno.jobs.tokens import ensure_secret, has_configured_key, issue_token, secret_path

#: Lifetime of the admin token printed at start-up.
STARTUP_TOKEN_TTL = 24 * 3600
#: Where the start-up admin token goes, in the data folder, when stdout is no terminal.
ADMIN_TOKEN_FILE = "admin-token"


@cli.command()
def serve(
    app: AppOption = None,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    database: DatabaseOption = None,
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Jobs the embedded worker runs at once."
    ),
    no_worker: bool = typer.Option(False, "--no-worker", help="Run no embedded worker."),
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="Run no embedded scheduler."),
    log_level: LogLevelOption = "info",
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log", help="Log a line for every request."
    ),
) -> None:
    """Serve the Jobs REST API, the dashboard and the embedded worker and scheduler."""
    from uno.jobs.api import create_app
    from uno.jobs.api.runtime import serve_app

    check_port_free(host, port)  # before any banner, token or loop starts
    system = load_system(app, log_level, database_url=database, concurrency=concurrency)
    settings = system.settings
    server = create_app(
        system,
        embedded_worker=not no_worker,
        embedded_scheduler=not no_scheduler,
        concurrency=concurrency,
    )
    asyncio.run(check_store(system))  # a database it cannot reach ends serve in one line
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"uno-jobs API on http://{shown_host}:{port}  (docs: /docs, dashboard: /dashboard)")
    typer.echo(f"Database: {settings.shown_database_url}")
    if not has_configured_key(settings):
        show_admin_token(settings, f"http://{shown_host}:{port}/dashboard")
    options = server_options(log_level, access_log, settings.limits)
    serve_app(system, server, host=host, port=port, **options)


async def check_store(system: JobSystem) -> None:
    """Open and close the system's store once before serving.

    A wrong or unreachable database then fails the command with its reason,
    before the banner, instead of as a failed start-up inside the server.
    """
    url = system.settings.resolved_database_url
    if url.startswith("sqlite:"):
        prepare_sqlite_file(system.settings)
    store = create_store(url, settings=system.settings)
    try:
        await store.open()
    finally:
        await store.close()


def show_admin_token(settings: Settings, dashboard_url: str) -> None:
    """Make the start-up admin token, and show it only to whoever sits at a terminal.

    When standard output is a pipe or a file (a service manager's log, CI), the
    token would outlive its reader there; it goes to a 0600 file in the data
    folder instead, and only that file's path is printed.
    """
    ensure_secret(settings)
    token = issue_token(settings, "admin", ttl=STARTUP_TOKEN_TTL)
    typer.echo(f"JWT secret: {secret_path(settings)} (set UNO_JOBS_JWT_SECRET)")
    if sys.stdout.isatty():
        typer.echo(f"Admin token (valid 24 h): {token}")
        typer.echo(f"Dashboard: {dashboard_url}#token={token}")
        return
    path = write_private_file(settings.data_dir / ADMIN_TOKEN_FILE, token + "\n")
    typer.echo(f"Admin token (valid 24 h) written to {path}")
    typer.echo(f"Dashboard: {dashboard_url} (paste the token from that file)")


def server_options(
    log_level: str, access_log: bool, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """uvicorn's settings: uvloop when installed, httptools with bounded request heads
    (h11 with the same bound without it; see ``uno.jobs.api.http_server``), and no
    access log unless asked, since formatting a line per request costs as much as
    routing it."""
    from uno.jobs.api.http_server import bounded_protocol, head_bytes

    return {
        "loop": "auto",
        "http": bounded_protocol(limits) or "h11",
        "h11_max_incomplete_event_size": head_bytes(limits),
        "log_level": log_level.lower(),
        "access_log": access_log,
    }
