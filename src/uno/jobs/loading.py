"""Find the user's job system from ``--app MOD[:ATTR]``."""

from __future__ import annotations

import importlib
import os
import sys

from uno.jobs.errors import ValidationError
from uno.jobs.settings import Settings
from uno.jobs.system import JobSystem
from uno.jobs.tasks import TaskRegistry

_ATTR_GUESSES = ("jobs", "app", "system", "registry", "tasks")


def load_app(spec: str | None, *, settings: Settings | None = None) -> JobSystem:
    """The JobSystem named by ``spec``; a bare ``TaskRegistry`` is wrapped in one
    (built with ``settings``, else the environment's).

    ``spec`` is ``module`` or ``module:attribute``. Without an attribute the
    module's ``jobs``, ``app``, ``system``, ``registry`` or ``tasks`` is used, or
    else its only JobSystem. Without a spec, the demo tasks are served.
    """
    if not spec:
        spec = "uno.jobs.demo"
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(f"Cannot import app module {module_name!r}: {exc}") from exc
    if attr:
        target = getattr(module, attr, None)
        if target is None:
            raise ValidationError(f"Module {module_name!r} has no attribute {attr!r}")
    else:
        target = next(
            (
                getattr(module, a)
                for a in _ATTR_GUESSES
                if isinstance(getattr(module, a, None), JobSystem | TaskRegistry)
            ),
            None,
        )
        if target is None:
            found = [v for v in vars(module).values() if isinstance(v, JobSystem)]
            if len(found) != 1:
                raise ValidationError(
                    f"Module {module_name!r} has no JobSystem; name one with {module_name}:ATTR"
                )
            target = found[0]
    if isinstance(target, TaskRegistry):
        return JobSystem(settings=settings, registry=target)
    if not isinstance(target, JobSystem):
        raise ValidationError(f"{spec} is a {type(target).__name__}, not a JobSystem")
    return target
