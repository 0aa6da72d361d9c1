-- A schedule's revision goes up at every change of its definition or status, so
-- a scheduler writes only for the schedule it read (a change in between wins).
ALTER TABLE schedules ADD COLUMN revision integer NOT NULL DEFAULT 0;

-- Occurrences are pruned by age, oldest first.
CREATE INDEX schedule_occurrences_age_idx ON schedule_occurrences (occurrence);

-- The maintenance lease: one runner prunes at a time. A round takes it under a
-- transaction-level advisory try-lock, so a second runner skips at once instead
-- of waiting on the row.
CREATE TABLE maintenance_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);
