"""The Jobs REST API: ``create_app`` for a ready server, ``register_jobs_endpoints``
to mount it on an existing FastAPI app or router.

Both are loaded on first use, not when the package is: the operator commands
(``uno-jobs jobs list``) print through the API's DTOs (``uno.jobs.api.dtos``) and
should not pay for importing FastAPI and the routes on every run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uno.jobs.api.app import create_app
    from uno.jobs.api.endpoints import register_jobs_endpoints, system_provider

__all__ = ["create_app", "register_jobs_endpoints", "system_provider"]

#: Where each public name lives.
_MODULE_OF = {
    "create_app": "uno.jobs.api.app",
    "register_jobs_endpoints": "uno.jobs.api.endpoints",
    "system_provider": "uno.jobs.api.endpoints",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
