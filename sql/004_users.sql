-- users: the /users API (upstream-api.md section 1), one row per user id, and the detector's
-- ledger of changes found but not yet applied.
--
-- A column per top-level field of UserDetail; profile, settings, roles and addresses as jsonb.
-- Volatile fields (updated_at, last_seen_at, fetched_at) are stored but hold the value of the last
-- real change: a touch never writes the row. Bookkeeping columns as in every synced table
-- (sql/003_cars.sql), plus:
--   summary_fingerprint  xxh3-128 of the summary fields (the list's view of the user), which is
--                        what the detector compares; written by the worker with the detail
--   deleted_at           set when the user's detail answers 404 user_not_found (status then
--                        becomes 'deleted'); NULL while the user exists upstream

CREATE TABLE users (
    id                   bigint      PRIMARY KEY,
    email                text,
    name                 text,
    status               text,
    plan                 text,
    team_id              bigint,
    updated_at           timestamptz,
    last_seen_at         timestamptz,
    profile              jsonb,
    settings             jsonb,
    roles                jsonb,
    addresses            jsonb,
    fetched_at           timestamptz,
    extra                jsonb,
    fingerprint          bytea       NOT NULL CHECK (octet_length(fingerprint) = 16),
    summary_fingerprint  bytea       NOT NULL CHECK (octet_length(summary_fingerprint) = 16),
    deleted_at           timestamptz,
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    synced_at            timestamptz NOT NULL DEFAULT now(),
    last_run_id          text        NOT NULL
);

-- One row per user whose summary changed and whose new version is not in `users` yet. The
-- detector (sensor) writes it when it asks for a worker run; the worker deletes it in the
-- transaction that stores that version. The oldest row is the pipeline's lag.
CREATE TABLE users_pending_changes (
    id                   bigint      PRIMARY KEY,
    summary_fingerprint  bytea       NOT NULL CHECK (octet_length(summary_fingerprint) = 16),
    updated_at           timestamptz,
    first_detected_at    timestamptz NOT NULL DEFAULT now(),
    detected_at          timestamptz NOT NULL DEFAULT now(),
    requested_tick       bigint      NOT NULL,
    run_key              text        NOT NULL,
    quarantined_at       timestamptz
);

COMMENT ON COLUMN users_pending_changes.summary_fingerprint IS 'the summary version the detector saw';
COMMENT ON COLUMN users_pending_changes.updated_at IS 'upstream updated_at of that version';
COMMENT ON COLUMN users_pending_changes.first_detected_at IS
    'when the oldest unapplied change of this user was detected (kept when a newer version supersedes it)';
COMMENT ON COLUMN users_pending_changes.requested_tick IS
    'detector tick that asked for the run; a re-evaluated tick asks again under the same run_key';
COMMENT ON COLUMN users_pending_changes.quarantined_at IS
    'set when the fetched detail could not be stored (see sync_quarantine); not counted as lag';
