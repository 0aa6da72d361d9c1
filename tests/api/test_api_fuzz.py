"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation gets generated requests with an all-scopes token; the app must
never answer 5xx and every answer must match the documented schema. run-sync is
left out: without a worker it waits for the job's timeout (tested elsewhere).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings

from conftest import claims, make_system, sign
from uno.jobs.api import create_app

#: Total time budget of the fuzz, spread over its operations.
BUDGET = 25.0
_started: list[float] = []


def _app() -> FastAPI:
    """One app for the whole fuzz: its SQLite file fills up as cases run."""
    folder = Path(tempfile.mkdtemp(prefix="uno-jobs-fuzz-"))
    return create_app(make_system(folder), embedded_worker=False, embedded_scheduler=False)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app()).exclude(
    path="/api/v1/jobs/run-sync"
)
TOKEN = sign(claims(ttl=3600))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_matches_its_schema(case: schemathesis.Case) -> None:
    if not _started:
        _started.append(time.monotonic())
    if time.monotonic() - _started[0] > BUDGET:
        pytest.skip("fuzz time budget used up")
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
