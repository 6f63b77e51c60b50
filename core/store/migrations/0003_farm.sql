-- Schema version 3: what the farm needs on top of the queue. Times are UTC
-- milliseconds since the Unix epoch.

-- A retried job waits until not_before (backoff); fps, speed and the worker's
-- pid are the latest progress report of a running job.
ALTER TABLE jobs ADD COLUMN not_before INTEGER;
ALTER TABLE jobs ADD COLUMN fps REAL;
ALTER TABLE jobs ADD COLUMN speed REAL;
ALTER TABLE jobs ADD COLUMN worker_pid INTEGER;
-- Set when retention removed the output file.
ALTER TABLE jobs ADD COLUMN output_removed_at INTEGER;

-- The worker's stderr per attempt, redacted and bounded.
CREATE TABLE job_logs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    text    TEXT    NOT NULL
);

CREATE INDEX job_logs_by_job ON job_logs (job_id, id);
CREATE INDEX jobs_by_finish ON jobs (state, finished_at);

-- Directories jobs may read from and write into, and other farm state
-- that is not a number (the hardware capability matrix).
CREATE TABLE farm_roots (
    kind     TEXT NOT NULL CHECK (kind IN ('input', 'output')),
    path     TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (kind, path)
);

CREATE TABLE farm_state (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
