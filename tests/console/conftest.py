"""The console's tests reuse the API tests' fixtures: an app over a fresh SQLite
file and clients holding tokens of chosen scopes."""

from __future__ import annotations

from api.conftest import app, client, clients, system, token, worker_enabled

__all__ = ["app", "client", "clients", "system", "token", "worker_enabled"]
