"""uno-jobs on its embedded SQLite store (WAL), one worker process."""

from __future__ import annotations

from benchmarks.systems.base import ServerFacts, remove_sqlite
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

    def durability(self, facts: ServerFacts) -> str:
        base = (
            "SQLite WAL, synchronous=NORMAL: commits survive a process crash, "
            "a power loss can undo the last ones"
        )
        if self.variant.durable_acks(self.durable_env):
            return f"{base}; claims, outcomes, heartbeats synchronous=FULL (flushed at commit)"
        return base


SYSTEM = UnoSqlite
