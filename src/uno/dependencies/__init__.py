"""Service wiring for apps that embed the Jobs API (see ``service``)."""

from __future__ import annotations

from uno.dependencies.service import (
    build_system,
    configure_services,
    get_job_system,
    reset_services,
)

__all__ = ["build_system", "configure_services", "get_job_system", "reset_services"]
