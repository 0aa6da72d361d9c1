-- A schedule's revision goes up at every change of its definition or status, so
-- a scheduler writes only for the schedule it read (a change in between wins).
ALTER TABLE schedules ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- Occurrences are pruned by age, oldest first.
CREATE INDEX schedule_occurrences_age ON schedule_occurrences (occurrence);

-- The maintenance lease: one runner prunes at a time; the others see the row
-- held (until expires_at) and skip their round.
CREATE TABLE maintenance_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
