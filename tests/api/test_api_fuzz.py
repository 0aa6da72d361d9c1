"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation gets generated requests with an all-scopes token; the app must
never answer 5xx and every answer must match the documented schema. run-sync is
left out: without a worker it waits for the job's timeout (tested elsewhere).
The examples are derandomized and few per operation, so every operation is
fuzzed on every run in a bounded time instead of skipping what a budget leaves.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings

from api.conftest import claims, make_system, sign
from uno.jobs.api import create_app


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
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_matches_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
