-- Schema version 2: API keys, the HMAC-chained audit log, and aggregated
-- authentication failures. Times are UTC milliseconds since the Unix epoch.

CREATE TABLE api_keys (
    id                  TEXT    PRIMARY KEY NOT NULL,  -- public part of fhk_<id>_...
    name                TEXT    NOT NULL,
    owner_user          TEXT    NOT NULL,
    owner_name          TEXT,
    owner_email         TEXT,
    scopes              TEXT    NOT NULL,              -- space-separated
    secret_digest       BLOB    NOT NULL CHECK (length(secret_digest) = 32),
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER,                       -- NULL only with never_expires
    never_expires       INTEGER NOT NULL DEFAULT 0 CHECK (never_expires IN (0, 1)),
    last_used_at        INTEGER,
    last_used_ip        TEXT,
    revoked_at          INTEGER,
    revoked_by          TEXT,
    revoked_reason      TEXT,
    allowlist           TEXT,                          -- CIDRs, space-separated
    rate_limit_per_hour INTEGER,
    max_concurrent_jobs INTEGER,
    rotated_from        TEXT REFERENCES api_keys (id),
    CHECK (expires_at IS NOT NULL OR never_expires = 1)
);

CREATE TABLE audit_records (
    seq       INTEGER PRIMARY KEY,                     -- gapless, from 1
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT,
    outcome   TEXT    NOT NULL,
    source_ip TEXT,
    details   TEXT,                                    -- JSON, redacted
    mac       BLOB    NOT NULL CHECK (length(mac) = 32)
);

CREATE INDEX audit_records_by_time ON audit_records (at);

CREATE TABLE auth_failures (
    source_ip   TEXT    NOT NULL,
    window_from INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    PRIMARY KEY (source_ip, window_from)
);
