-- Notifications (issue 11): webhook endpoints and the queue of their deliveries. Kept column for
-- column alike in migrations/sqlite and migrations/postgres.

-- A webhook endpoint. `sealed` is the JSON `{"url": ..., "secret": ...}` sealed under the master
-- key with `notification:<id>:endpoint` as associated data (src/notify/endpoint.rs), because a URL
-- may carry a token in its path (Slack's do); `origin` is the URL's scheme://host[:port], the only
-- part shown. `events` is a JSON list of event words (task.failed, ...); `format` json or slack.
CREATE TABLE notification_endpoints (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    origin     TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    has_secret BIGINT NOT NULL,
    events     TEXT NOT NULL,
    format     TEXT NOT NULL,
    enabled    BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One event to send to one endpoint. `body` is the exact request body (signed as is, the same
-- bytes on every attempt). `status`: pending (due at `next_attempt_at`), delivered, or failed
-- (gave up after the last attempt). A sender claims a due row by setting `lease_owner` and
-- `lease_expires_at` (compare-and-swap), so one process sends each attempt; one per endpoint
-- at a time.
CREATE TABLE notification_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES notification_endpoints (id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT
);
-- A sender looks up, per endpoint, its oldest due delivery and whether one is in flight.
CREATE INDEX notification_deliveries_due
    ON notification_deliveries (endpoint_id, status, next_attempt_at);
CREATE INDEX notification_deliveries_endpoint
    ON notification_deliveries (endpoint_id, created_at, id);
CREATE INDEX notification_deliveries_finished ON notification_deliveries (finished_at);

-- Every attempt of a delivery: when, how long (ms), the HTTP status (NULL when no answer), the
-- error, and the first 1 KiB of the answer's body.
CREATE TABLE notification_attempts (
    delivery_id TEXT NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    at          TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    http_status BIGINT,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
