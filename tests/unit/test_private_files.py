"""The data folder and the database files are their owner's alone, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from uno.jobs.private_files import private_dir, write_private_file
from uno.jobs.settings import Settings
from uno.jobs.system import JobSystem
from uno.jobs.tokens import ensure_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The most permissive umask, so that only explicit modes keep files private."""
    old = os.umask(0)
    yield
    os.umask(old)


async def test_the_embedded_database_and_its_folder_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with JobSystem(settings=Settings(data_dir=data)) as system:
        await system.store.ping()
        assert mode(data) == 0o700
        for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
            assert mode(data / name) == 0o600, name


async def test_a_database_file_named_by_url_is_private(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "app.db"
    path.parent.mkdir()  # a named database's folder is never created for it
    async with JobSystem(f"sqlite:///{path}", settings=Settings(data_dir=tmp_path / "d")):
        assert mode(path) == 0o600
        assert mode(path.with_name("app.db-wal")) == 0o600
    assert not (tmp_path / "d").exists()  # the data folder is not needed, so not made


async def test_an_existing_loose_data_folder_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "jobs.db").touch(mode=0o644)
    (data / "jobs.db").chmod(0o644)
    data.chmod(0o755)
    async with JobSystem(settings=Settings(data_dir=data)):
        assert (mode(data), mode(data / "jobs.db")) == (0o700, 0o600)


def test_the_secret_and_written_files_are_private(tmp_path: Path) -> None:
    ensure_secret(Settings(data_dir=tmp_path / "data"))
    assert mode(tmp_path / "data") == 0o700
    assert mode(tmp_path / "data" / "jwt-secret") == 0o600
    loose = tmp_path / "loose"
    loose.write_text("old")
    loose.chmod(0o666)
    write_private_file(loose, "new")
    assert (mode(loose), loose.read_text()) == (0o600, "new")
    assert private_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert mode(tmp_path / "a" / "b") == 0o700
