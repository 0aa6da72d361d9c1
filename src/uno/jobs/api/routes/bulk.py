"""Bulk job endpoints (additions to the reference, under ``jobs:write``): retry or
cancel every job a filter matches, server-side in bounded batches (``uno.jobs.bulk``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from uno.jobs.api.auth import SCOPE_WRITE
from uno.jobs.api.dtos.console import BulkCancelDto, BulkResultDto, BulkRetryDto
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.bulk import BulkAction, run_bulk
from uno.jobs.system import JobSystem


def build_router(ctx: RouteContext) -> APIRouter:
    router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=JobsRoute)
    write = ctx.require(SCOPE_WRITE)
    system_dep = Depends(ctx.provider)

    @router.post(
        "/bulk-retry",
        name="bulk_retry_jobs",
        response_model=BulkResultDto,
        dependencies=write,
        responses=ctx.responses(),
        summary="Retry Jobs Matching a Filter",
    )
    async def bulk_retry(body: BulkRetryDto, system: JobSystem = system_dep) -> BulkResultDto:
        """Send every failed, timed-out or cancelled job the filter matches back to
        pending, ``bulk_batch_size`` per statement and at most ``max_bulk_jobs`` per
        request (``complete`` is False when jobs are left). ``dry_run`` only counts."""
        outcome = await run_bulk(
            system, BulkAction.RETRY, body.filter.to_filter(), dry_run=body.dry_run
        )
        return BulkResultDto.from_domain(outcome, body.dry_run)

    @router.post(
        "/bulk-cancel",
        name="bulk_cancel_jobs",
        response_model=BulkResultDto,
        dependencies=write,
        responses=ctx.responses(),
        summary="Cancel Jobs Matching a Filter",
    )
    async def bulk_cancel(body: BulkCancelDto, system: JobSystem = system_dep) -> BulkResultDto:
        """Cancel every pending, reserved or retrying job the filter matches, in
        batches as bulk retry; ``reason`` is kept on each. ``dry_run`` only counts."""
        outcome = await run_bulk(
            system,
            BulkAction.CANCEL,
            body.filter.to_filter(),
            reason=body.reason,
            dry_run=body.dry_run,
        )
        return BulkResultDto.from_domain(outcome, body.dry_run)

    return router
