"""The Jobs REST API: ``create_app`` for a ready server, ``register_jobs_endpoints``
to mount it on an existing FastAPI app or router."""

from __future__ import annotations

from uno.jobs.api.app import create_app
from uno.jobs.api.endpoints import register_jobs_endpoints, system_provider

__all__ = ["create_app", "register_jobs_endpoints", "system_provider"]
