"""`uno-jobs serve`: the API server with an embedded worker and scheduler.

Both loops run in the server's event loop via the app's lifespan. With no JWT key
configured, a secret is created in the data folder and a ready admin token is
printed, so the API can be called straight away. Requests are not logged one by
one unless ``--access-log`` asks for it.
"""

from __future__ import annotations

from typing import Any

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import AppOption, DatabaseOption, LogLevelOption, load_system
from uno.jobs.limits import DEFAULT_LIMITS, Limits
from uno.jobs.tokens import ensure_secret, has_configured_key, issue_token

#: Lifetime of the admin token printed at start-up.
STARTUP_TOKEN_TTL = 24 * 3600


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
    import uvicorn

    from uno.dependencies.service import configure_services
    from uno.jobs.api import create_app

    system = load_system(app, log_level, database_url=database, concurrency=concurrency)
    settings = system.settings
    configure_services(
        system=system, embedded_worker=not no_worker, embedded_scheduler=not no_scheduler
    )
    server = create_app(
        system,
        embedded_worker=not no_worker,
        embedded_scheduler=not no_scheduler,
        concurrency=concurrency,
    )
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"uno-jobs API on http://{shown_host}:{port}  (docs: /docs, dashboard: /dashboard)")
    typer.echo(f"Database: {settings.resolved_database_url}")
    if not has_configured_key(settings):
        ensure_secret(settings)
        token = issue_token(settings, "admin", ttl=STARTUP_TOKEN_TTL)
        typer.echo(f"JWT secret: {settings.data_dir / 'jwt-secret'} (set UNO_JOBS_JWT_SECRET)")
        typer.echo(f"Admin token (valid 24 h): {token}")
        typer.echo(f"Dashboard: http://{shown_host}:{port}/dashboard#token={token}")
    options = server_options(log_level, access_log, settings.limits)
    uvicorn.run(server, host=host, port=port, **options)


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
