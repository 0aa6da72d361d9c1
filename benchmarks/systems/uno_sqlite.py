"""uno-jobs on its embedded SQLite store (WAL), one worker process."""

from __future__ import annotations

from benchmarks.systems.base import remove_sqlite
from benchmarks.systems.uno_common import UnoSystem


class UnoSqlite(UnoSystem):
    name = "uno_sqlite"
    label = "uno-jobs (SQLite)"
    backend = "sqlite"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.ctx.workdir / 'uno.db'}"

    def wipe(self) -> None:
        remove_sqlite(self.ctx.workdir / "uno.db")

    async def destroy(self) -> None:
        self.wipe()


SYSTEM = UnoSqlite
