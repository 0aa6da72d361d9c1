"""Types shared by every resource's DTOs: enums as the seed names them, times, pages."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, PlainSerializer

from uno.jobs.clock import as_utc

#: The largest page a list endpoint returns; bigger ``limit`` values are refused.
MAX_PAGE_SIZE = 1000
#: Far past any real list; keeps the number within the databases' integers.
MAX_OFFSET = 1_000_000_000


class PriorityEnum(StrEnum):
    """Job priority, highest first."""

    critical = "critical"
    high = "high"
    normal = "normal"
    low = "low"


class StatusEnum(StrEnum):
    """Where a job is in its life."""

    pending = "pending"
    reserved = "reserved"
    running = "running"
    completed = "completed"
    failed = "failed"
    retrying = "retrying"
    cancelled = "cancelled"
    timeout = "timeout"


def _to_utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("datetime out of range once converted to UTC") from None


def _iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the seed's examples show."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def _whole_if_integral(value: float) -> int | float:
    """60.0 seconds is shown as 60, like the seed; 1.5 stays 1.5."""
    return int(value) if float(value).is_integer() else value


#: A timestamp: naive input is read as UTC, output always carries the offset.
UtcDateTime = Annotated[
    datetime,
    AfterValidator(_to_utc),
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
]

#: A number of seconds, shown without ``.0`` when whole.
Seconds = Annotated[
    float,
    PlainSerializer(_whole_if_integral, return_type=int | float, when_used="json"),
]


class ErrorDto(BaseModel):
    """Every error body: ``detail`` says what went wrong."""

    detail: str | list[Any]


class PageDto(BaseModel):
    """Pagination of a list: page = offset // limit + 1, pages = ceil(total / limit)."""

    total: int
    page: int
    page_size: int
    pages: int


def page_fields(total: int, limit: int, offset: int) -> dict[str, int]:
    """The pagination numbers of one page of a list."""
    return {
        "total": total,
        "page": offset // limit + 1,
        "page_size": limit,
        "pages": math.ceil(total / limit),
    }
