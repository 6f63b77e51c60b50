-- Schema version 4: the HTTPS API. Times are UTC milliseconds since the
-- Unix epoch.

-- Media uploaded over the API. The file lives in <store dir>/uploads/<id>;
-- a row exists only for a complete, checked file. job_id is set when a job
-- is submitted with it; an upload no job used is removed after 24 hours.
CREATE TABLE uploads (
    id          TEXT    PRIMARY KEY NOT NULL,          -- upl_ + 24 base62
    key_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,                      -- the client's file name
    media_type  TEXT    NOT NULL,                      -- from the magic number
    size        INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,                      -- lower-case hex
    created_at  INTEGER NOT NULL,
    source_ip   TEXT    NOT NULL,
    job_id      INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    used_at     INTEGER
);
CREATE INDEX uploads_by_age ON uploads (used_at, created_at);

-- Source addresses banned after repeated authentication failures. A row
-- whose expires_at has passed no longer bans; an operator's unban deletes it.
CREATE TABLE api_bans (
    address    TEXT    PRIMARY KEY NOT NULL,           -- as AuthFailureLog::sourceOf
    reason     TEXT    NOT NULL,
    failures   INTEGER NOT NULL,
    banned_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The self-signed certificate the engine made because none was configured.
-- The store is encrypted, so its private key is kept here too.
CREATE TABLE api_certificates (
    name        TEXT    PRIMARY KEY NOT NULL,          -- 'self-signed'
    certificate TEXT    NOT NULL,                      -- PEM
    private_key TEXT    NOT NULL,                      -- PEM
    names       TEXT    NOT NULL,                      -- subjectAltName entries, space-separated
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
