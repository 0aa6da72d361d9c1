"""`uno-jobs token`: print a signed HS256 JWT that the API accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from uno.jobs.cli import cli
from uno.jobs.settings import Settings
from uno.jobs.tokens import ALL_SCOPES, find_secret, has_configured_key, issue_token


@cli.command()
def token(
    sub: str = typer.Option("admin", "--sub", help="The token's subject (who calls)."),
    scope: str = typer.Option(
        " ".join(ALL_SCOPES), "--scope", help="Space-separated scopes: jobs:read jobs:write ..."
    ),
    ttl: int = typer.Option(3600, "--ttl", min=1, help="Lifetime in seconds."),
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="The server's data folder, holding its jwt-secret (default: UNO_JOBS_DATA_DIR).",
        ),
    ] = None,
) -> None:
    """Print a JWT signed with UNO_JOBS_JWT_SECRET (or the server's data folder's secret).

    No secret is ever made here: without one, the command fails and says where it looked.
    """
    settings = Settings.from_env().with_(data_dir=data_dir)
    if not settings.jwt_secret and has_configured_key(settings):
        typer.echo(
            "Error: tokens are signed with UNO_JOBS_JWT_SECRET; this server trusts a public "
            "key or JWKS instead, so ask your identity provider for a token.",
            err=True,
        )
        raise typer.Exit(2)
    find_secret(settings)  # SecretNotFound ends the command with where it looked
    typer.echo(issue_token(settings, sub, scope.split(), ttl))
