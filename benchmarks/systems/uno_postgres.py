"""uno-jobs on PostgreSQL (SKIP LOCKED batch fetch, LISTEN/NOTIFY), one worker process."""

from __future__ import annotations

from benchmarks.systems.base import ServerFacts, drop_database, recreate_database
from benchmarks.systems.uno_common import UnoSystem


class UnoPostgres(UnoSystem):
    name = "uno_postgres"
    label = "uno-jobs (PostgreSQL)"
    backend = "postgres"

    @property
    def url(self) -> str:
        return self.ctx.database_url(self.name)

    def wipe(self) -> None:
        recreate_database(self.ctx.postgres_url, self.url)

    async def destroy(self) -> None:
        drop_database(self.ctx.postgres_url, self.url)

    def durability(self, facts: ServerFacts) -> str:
        if self.variant.durable_acks(self.durable_env) is not False:  # durable by default
            return f"all commits, bookkeeping too: {facts.postgres_durable()}"
        return (
            f"enqueue {facts.postgres_durable()}; claims, outcomes, heartbeats "
            "synchronous_commit=off (a PostgreSQL crash can forget the last ones: "
            "those jobs run again)"
        )


SYSTEM = UnoPostgres
