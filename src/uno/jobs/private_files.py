"""The data folder and the files in it, readable by their owner only.

The data folder holds the SQLite database (every job's arguments and results),
the JWT secret that signs admin tokens and, when ``serve`` has no terminal to
print it to, the start-up admin token. Any local user who can read them can
read every job or call the API as admin, so the folder is made 0700 and these
files 0600, whatever the umask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from uno.jobs.settings import Settings, sqlite_file

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

#: The files SQLite keeps beside a database file.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    """Take away the group's and others' access to ``path`` if it has any (owner only)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
        path.chmod(mode)
        log.info("%s was readable by other users; now mode %o", path, mode)


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter: created 0700, or tightened to it."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it is missing, else tighten it to 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        return path
    _tighten(path, PRIVATE_FILE_MODE)
    return path


def write_private_file(path: Path, text: str) -> Path:
    """Replace ``path``'s content with ``text``; the file is 0600 before any byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        out.write(text)
    return path


def private_sqlite_file(path: Path) -> None:
    """Make a SQLite database file 0600 before SQLite opens it.

    SQLite gives the ``-wal`` and ``-shm`` files it creates the mode of the
    database file, so creating that file 0600 first keeps all three private;
    companions left by an older, looser file are tightened too. The file's
    folder must exist: a mistyped path fails here with the folder it names,
    instead of a new folder appearing somewhere under the working directory.
    """
    check_sqlite_folder(path)
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        _tighten(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)


def check_sqlite_folder(path: Path) -> None:
    """``FileNotFoundError`` naming the absolute folder when ``path``'s folder is missing."""
    folder = path.absolute().parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"SQLite database folder {folder} does not exist (create it, or fix the "
            "database URL; sqlite:///relative/path.db is read from the working directory)"
        )


def prepare_sqlite_file(settings: Settings) -> None:
    """Before a SQLite store opens: the data folder made (private) when the database
    is the embedded file in it, and the database file 0600 wherever it is."""
    if not settings.database_url:
        private_dir(settings.data_dir)
    path = sqlite_file(settings.resolved_database_url)
    if path is not None:
        private_sqlite_file(path)
        log.info("SQLite database: %s", path.absolute())
