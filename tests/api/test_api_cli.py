"""`uno-jobs token`, the secret file `serve` shares with it, and what `serve` asks of uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from api.conftest import SECRET
from uno.jobs.cli import _register_commands, cli
from uno.jobs.limits import Limits
from uno.jobs.settings import Settings
from uno.jobs.tokens import ensure_secret

_register_commands()


def run(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> tuple[int, str]:
    for key in ("SECRET", "PUBLIC_KEY", "JWKS_URL", "AUDIENCE", "ISSUER"):
        monkeypatch.delenv(f"UNO_JOBS_JWT_{key}", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["token", *args])
    return result.exit_code, result.output


def test_token_with_a_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(
        monkeypatch,
        {
            "UNO_JOBS_JWT_SECRET": SECRET,
            "UNO_JOBS_JWT_AUDIENCE": "aud",
            "UNO_JOBS_JWT_ISSUER": "iss",
        },
        "--sub", "ci", "--scope", "jobs:read jobs:write", "--ttl", "120",
    )  # fmt: skip
    assert code == 0, out
    claims = jwt.decode(out.strip(), SECRET, algorithms=["HS256"], audience="aud", issuer="iss")
    assert (claims["sub"], claims["scope"]) == ("ci", "jobs:read jobs:write")
    assert claims["exp"] - claims["iat"] == 120


def test_token_without_a_key_uses_the_data_folder_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensure_secret(Settings(data_dir=tmp_path))  # as `serve` does at start-up
    code, out = run(monkeypatch, {"UNO_JOBS_DATA_DIR": str(tmp_path)})
    assert code == 0, out
    secret_file = tmp_path / "jwt-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    claims = jwt.decode(out.strip(), secret_file.read_text().strip(), algorithms=["HS256"])
    assert claims["scope"] == "jobs:read jobs:write jobs:admin"
    assert claims["exp"] - claims["iat"] == 3600
    again_code, again = run(monkeypatch, {"UNO_JOBS_DATA_DIR": str(tmp_path)})
    assert again_code == 0
    jwt.decode(again.strip(), secret_file.read_text().strip(), algorithms=["HS256"])


def test_token_refuses_when_only_a_public_key_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out = run(
        monkeypatch,
        {"UNO_JOBS_DATA_DIR": str(tmp_path), "UNO_JOBS_JWT_JWKS_URL": "http://127.0.0.1:9/jwks"},
    )
    assert code == 2
    assert "identity provider" in out
    assert not (tmp_path / "jwt-secret").exists()


def serve_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str
) -> tuple[str, dict[str, Any]]:
    """What ``uno-jobs serve`` hands to uvicorn, without serving."""
    from uno.dependencies.service import reset_services
    from uno.jobs.api import runtime

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(runtime, "serve_app", lambda system, app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("UNO_JOBS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("UNO_JOBS_JWT_SECRET", SECRET)
    database = f"sqlite:///{tmp_path}/jobs.db"
    try:
        result = CliRunner().invoke(cli, ["serve", "--database", database, "--port", "8123", *args])
    finally:
        reset_services()
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    return result.output, calls[0][1]


def test_serve_logs_no_line_per_request_unless_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    output, options = serve_options(monkeypatch, tmp_path)
    assert "uno-jobs API on http://127.0.0.1:8123" in output
    assert options["access_log"] is False
    assert (options["host"], options["port"], options["log_level"]) == ("127.0.0.1", 8123, "info")
    assert options["loop"] == "auto"
    assert options["http"].__name__ == "BoundedHttpToolsProtocol"
    assert options["h11_max_incomplete_event_size"] == 8 * Limits().max_header_bytes
    _, options = serve_options(monkeypatch, tmp_path, "--access-log", "--log-level", "DEBUG")
    assert (options["access_log"], options["log_level"]) == (True, "debug")
