"""Which SQLite errors are faults of the machine, and what the caller is told.

SQLite reports a full disk, a full size limit, an I/O error or a lock held too
long as ``sqlite3.OperationalError``; left raw they reach the API as a generic
500. None of them is the caller's fault: the store turns them into
``StorageFull`` (nothing can be written until room is made) or
``StoreUnavailable`` (the database cannot serve right now), with a detail that
names the file and the cause. Errors of the SQL itself (a bug) stay as they are.
"""

from __future__ import annotations

import sqlite3

from uno.jobs.errors import StorageFull, StoreUnavailable, ValidationError

#: Primary result codes that mean "no room": the disk, or ``max_page_count``.
_FULL = frozenset({sqlite3.SQLITE_FULL})

#: Primary result codes of a database that cannot serve right now.
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_NOLFS,
        sqlite3.SQLITE_AUTH,
        sqlite3.SQLITE_PERM,
    }
)

#: Extended code of a shared-memory (``-shm``) file that could not grow: a full disk.
_SHM_SIZE = sqlite3.SQLITE_IOERR | (19 << 8)


def result_code(exc: sqlite3.Error) -> int | None:
    """SQLite's extended result code of an error, when the driver kept it."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def is_full(exc: sqlite3.Error) -> bool:
    """No room to write: a full disk or the database's page limit."""
    code = result_code(exc)
    if code is None:
        return "database or disk is full" in str(exc)
    return (code & 0xFF) in _FULL or code == _SHM_SIZE


def is_busy(exc: sqlite3.Error) -> bool:
    """The lock is held by another connection (SQLITE_BUSY / SQLITE_LOCKED)."""
    code = result_code(exc)
    if code is None:
        message = str(exc)
        return "locked" in message or "busy" in message
    return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def translate(exc: sqlite3.Error, path: str) -> Exception | None:
    """The domain error for a SQLite error on ``path``, or None to let it through."""
    if is_full(exc):
        return StorageFull(
            f"{path}: no room to write ({exc}); free disk space or raise the size limit"
        )
    code = result_code(exc)
    primary = None if code is None else code & 0xFF
    if primary == sqlite3.SQLITE_TOOBIG:
        return ValidationError(f"Value too big to store in {path}: {exc}")
    if primary in _UNAVAILABLE or (primary is None and is_busy(exc)):
        return StoreUnavailable(f"{path}: {exc}")
    return None
