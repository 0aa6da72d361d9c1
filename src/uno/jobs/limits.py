"""Every bound a caller controls, defined once: sizes, depths, counts and durations.

A job system is trusted only if no request can leave a job stuck, make stored data
unreadable or stall the server. Each value a caller chooses is therefore bounded
here, once, and the Python API, the REST API, schedules and the worker all check
against the same ``Limits``. Each bound has a default and an environment setting
(``UNO_JOBS_<NAME>``, upper case); ``docs/security.md`` lists them.

The checks below are pure functions of a value and the limits, so that the domain
refuses bad input with a ``ValidationError`` (a 4xx with a ``detail`` over HTTP)
before anything is written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from uno.jobs.envvars import numbers_from_env
from uno.jobs.errors import ValidationError

ENV_PREFIX = "UNO_JOBS_"

KIB = 1024
MIB = 1024 * KIB
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds in force; ``Limits()`` holds the defaults.

    Sizes are bytes of UTF-8 JSON, durations seconds, lengths characters.
    """

    #: Largest HTTP request body; larger ones answer 413 before being read whole.
    max_body_bytes: int = 1 * MIB
    #: Largest single HTTP header line (name and value), and all headers together x8.
    max_header_bytes: int = 16 * KIB
    #: Largest bearer token; longer ones answer 401 without being decoded.
    max_token_bytes: int = 8 * KIB
    #: Deepest nesting of lists and objects in args, kwargs, metadata and results.
    max_json_depth: int = 64
    #: Largest encoded args, kwargs or metadata of one job (each on its own).
    max_payload_bytes: int = 512 * KIB
    #: Largest encoded result a job may store; a larger one fails the attempt.
    max_result_bytes: int = 1 * MIB
    #: Longest error message or traceback kept from a failed attempt (cut, not refused).
    max_error_chars: int = 16 * KIB
    #: Longest name: task, queue, version, tag, job id, schedule name, worker id.
    max_name_chars: int = 255
    #: Longest free text a caller stores: a cancel reason, a schedule description.
    max_text_chars: int = 4 * KIB
    #: Most tags on one job or schedule.
    max_tags: int = 64
    #: Most retries a job may ask for.
    max_retries: int = 10_000
    #: Longest delay before a retry (a backoff is capped here too).
    max_retry_delay: float = 30 * DAY
    #: Longest timeout of one attempt.
    max_timeout: float = 30 * DAY
    #: How far ahead a job may be scheduled (``delay`` or ``scheduled_at``).
    max_schedule_ahead: float = 10 * 366 * DAY
    #: Longest time a run-sync request (``POST /jobs/run-sync``) waits for its job.
    max_run_sync_wait: float = 300.0
    #: Largest page a list returns.
    max_page_size: int = 1000
    #: Largest offset into a list.
    max_offset: int = 1_000_000_000
    #: Queues listed by ``GET /queues`` when the caller gives no ``limit``.
    default_queue_page: int = 100
    #: Queues that get their own label in ``/metrics``; the rest are summed as ``other``.
    max_metric_queues: int = 50
    #: Task names not registered in the process that get their own label in ``/metrics``
    #: (registered tasks always do); the rest are summed as ``other``.
    max_metric_tasks: int = 50
    #: Most jobs one bulk retry or cancel (`POST /jobs/bulk-retry`, `/jobs/bulk-cancel`)
    #: changes; the rest are left for another request.
    max_bulk_jobs: int = 100_000
    #: Jobs a bulk retry or cancel changes per statement (one short transaction each).
    bulk_batch_size: int = 500
    #: Longest span of per-minute history one request reads (`GET /console/overview`).
    max_history_minutes: int = 7 * 24 * 60
    #: Attempts kept per job in its history (``attempts`` of the job view); older ones go.
    max_attempts_kept: int = 20
    #: Longest progress message a running job reports (cut, not refused).
    max_progress_chars: int = 1 * KIB
    #: Most jobs a worker may claim ahead of its free slots (its ``worker_prefetch``).
    max_worker_prefetch: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Limits:
        """The defaults, with each ``UNO_JOBS_<FIELD>`` present in ``environ`` applied."""
        changes = numbers_from_env(cls, environ, cls.env_name)
        for name, value in changes.items():
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{cls.env_name(name)} must be positive, got {value!r}")
        return cls(**changes)

    @staticmethod
    def env_name(field_name: str) -> str:
        return ENV_PREFIX + field_name.upper()


DEFAULT_LIMITS = Limits()

# -- strings ------------------------------------------------------------------

#: A job id appears in URLs (``/jobs/{job_id}``): RFC 3986 unreserved characters plus
#: a few that need no escaping in a path segment.
_JOB_ID = re.compile(r"[A-Za-z0-9._~:@+=-]+")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_fault(value: str) -> str | None:
    """Why ``value`` cannot be stored as text on every store, or ``None``.

    PostgreSQL refuses NUL in text and JSON; a lone surrogate cannot be encoded
    as UTF-8 by either store.
    """
    if "\x00" in value:
        return "contains a NUL character"
    if _LONE_SURROGATE.search(value):
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def check_text(value: Any, what: str, max_chars: int, *, allow_empty: bool = False) -> str:
    """``value`` if it is a storable string of at most ``max_chars``; else ValidationError."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ValidationError(f"{what} must not be empty")
    if len(value) > max_chars:
        raise ValidationError(f"{what} is longer than {max_chars} characters")
    fault = text_fault(value)
    if fault:
        raise ValidationError(f"{what} {fault}")
    return value


def check_name(value: Any, what: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """A task, queue, version, tag or schedule name."""
    return check_text(value, what, limits.max_name_chars)


def check_job_id(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """A caller-chosen job id: reachable at ``/jobs/{job_id}`` without escaping."""
    job_id = check_text(value, "job_id", limits.max_name_chars)
    if not _JOB_ID.fullmatch(job_id) or job_id in (".", ".."):
        raise ValidationError(
            "job_id may hold only letters, digits and . _ ~ : @ + = - "
            f"(it is part of the job's URL), got {job_id!r}"
        )
    return job_id


def clip_text(value: str, max_chars: int) -> str:
    """``value`` cut to ``max_chars`` with a marker, and made storable (for error texts)."""
    if len(value) > max_chars:
        value = value[: max_chars - 20] + f" ... [{len(value) - max_chars + 20} cut]"
    if text_fault(value):
        value = value.replace("\x00", "\\x00")
        value = _LONE_SURROGATE.sub("\ufffd", value)
    return value


# -- JSON values --------------------------------------------------------------

#: Python refuses to turn integers of more than 4,300 digits into text (CVE-2020-10735),
#: so a larger one could be accepted and then never encoded: refuse it up front.
_MAX_INT_BITS = 14_000


def check_json(value: Any, what: str, max_depth: int, max_bytes: int) -> None:
    """Refuse a value that would not survive the trip through a store and back.

    JSON's own types only (finite floats, string keys), strings that both stores
    accept, nesting at most ``max_depth`` and an encoding of at most ``max_bytes``.
    The walk is iterative, so a deeply nested value is refused instead of
    exhausting the interpreter's recursion limit; the size is encoded only when a
    cheap estimate cannot rule the limit out.
    """
    estimate = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is list or kind is tuple or kind is dict:
            if depth > max_depth:
                raise ValidationError(f"{what} is nested deeper than {max_depth} levels")
            estimate += _push_children(item, depth, stack, what)
        else:
            estimate += _json_scalar_size(item, what)
        if estimate > max_bytes:
            break
    # UTF-8 takes at most 3 bytes per character of a string and escaping at most 6
    # characters per character, so below a sixth of the bound no encoding is needed.
    if estimate * 6 <= max_bytes:
        return
    if stack:
        raise ValidationError(f"{what} is larger than {max_bytes} bytes as JSON")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        raise ValidationError(f"{what} is {size} bytes as JSON, more than {max_bytes}")


def _json_scalar_size(item: Any, what: str) -> int:
    """A cheap estimate of the encoded size of ``item``, a JSON leaf; ValidationError if it
    is not one that a store can hold."""
    kind = type(item)
    if kind is str:
        if "\x00" in item or _LONE_SURROGATE.search(item):
            raise ValidationError(f"{what}: a string {text_fault(item)}")
        return len(item) + 2
    if kind is bool or item is None:
        return 8
    if kind is int:
        bits = item.bit_length()
        if bits > _MAX_INT_BITS:
            raise ValidationError(f"{what}: an integer of {bits} bits is too large for JSON")
        return 8 if bits < 64 else bits // 3 + 2
    if kind is float:
        if not math.isfinite(item):
            raise ValidationError(f"{what} must be JSON: {item!r} is not a finite number")
        return 8
    raise ValidationError(
        f"{what} must be JSON: {type(item).__name__} values are not JSON-serialisable"
    )


def _push_children(item: Any, depth: int, stack: list[tuple[Any, int]], what: str) -> int:
    """Push the members of the list or object ``item`` (at ``depth``) onto ``stack``; the
    estimated size of its brackets and keys. ValidationError for a key a store cannot hold."""
    if type(item) is not dict:
        stack.extend((child, depth + 1) for child in item)
        return 2
    estimate = 2
    for key, child in item.items():
        if type(key) is not str:
            raise ValidationError(f"{what} must be JSON: object keys must be strings, got {key!r}")
        estimate += len(key) + 3
        if "\x00" in key or _LONE_SURROGATE.search(key):
            raise ValidationError(f"{what}: a key {text_fault(key)}")
        stack.append((child, depth + 1))
    return estimate


def check_seconds(value: Any, what: str, maximum: float, *, positive: bool = False) -> float:
    """A finite number of seconds within ``[0, maximum]`` (``(0, maximum]`` if positive)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "a positive number" if positive else "zero or more"
        raise ValidationError(f"{what} must be {bound} of seconds, got {value!r}")
    if value > maximum:
        raise ValidationError(f"{what} must be at most {maximum:g} seconds, got {value!r}")
    return float(value)


def check_count(value: Any, what: str, maximum: int) -> int:
    """A whole number within ``[0, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be a whole number, got {value!r}")
    if value < 0 or value > maximum:
        raise ValidationError(f"{what} must be between 0 and {maximum}, got {value!r}")
    return value
