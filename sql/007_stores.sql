-- stores: the /stores API (upstream-api.md section 3), its users and videos, and the sync log.
--
-- One table per entity, a column per top-level contract field; bookkeeping columns as in every
-- synced table (sql/003_cars.sql). `updated_at` is volatile everywhere: stored, but a change of
-- only it never writes a row. Store users and videos are keyed (store_code, id), the way the
-- upstream pages them, and each store is synced as one scope: a store's full listing
-- soft-deletes only that store's missing rows. A store that leaves the store list is retired:
-- its `stores` row and all its users and videos get `deleted_at`.

CREATE TABLE stores (
    code           text        PRIMARY KEY,
    name           text,
    region         text,
    currency       text,
    status         text,
    updated_at     timestamptz,
    extra          jsonb,
    fingerprint    bytea       NOT NULL CHECK (octet_length(fingerprint) = 16),
    deleted_at     timestamptz,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz NOT NULL DEFAULT now(),
    last_run_id    text        NOT NULL
);

CREATE TABLE store_users (
    store_code     text        NOT NULL,
    id             bigint      NOT NULL,
    handle         text,
    display_name   text,
    role           text,
    followers      bigint,
    joined_at      timestamptz,
    updated_at     timestamptz,
    extra          jsonb,
    fingerprint    bytea       NOT NULL CHECK (octet_length(fingerprint) = 16),
    deleted_at     timestamptz,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz NOT NULL DEFAULT now(),
    last_run_id    text        NOT NULL,
    PRIMARY KEY (store_code, id)
);

CREATE TABLE store_videos (
    store_code     text        NOT NULL,
    id             bigint      NOT NULL,
    title          text,
    duration_s     integer,
    views          bigint,
    likes          bigint,
    comments       bigint,
    shares         bigint,
    published_at   timestamptz,
    updated_at     timestamptz,
    extra          jsonb,
    fingerprint    bytea       NOT NULL CHECK (octet_length(fingerprint) = 16),
    deleted_at     timestamptz,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz NOT NULL DEFAULT now(),
    last_run_id    text        NOT NULL,
    PRIMARY KEY (store_code, id)
);

-- One row per store and job of a run (`store_users`, `store_videos`), then the run's own row
-- (store_code NULL, job `stores_sync`) with the totals, written last. The latest state of every
-- store:
--   SELECT DISTINCT ON (store_code, job_name) * FROM sync_logs
--    WHERE store_code IS NOT NULL ORDER BY store_code, job_name, run_time DESC;
CREATE TABLE sync_logs (
    id          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name    text             NOT NULL,
    store_code  text,
    status      text             NOT NULL CHECK (status IN ('success', 'partial', 'failed')),
    message     text,
    rows        bigint           NOT NULL DEFAULT 0 CHECK (rows >= 0),
    duration_s  double precision NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    run_id      text             NOT NULL,
    run_time    timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX sync_logs_store_idx ON sync_logs (store_code, job_name, run_time DESC);
CREATE INDEX sync_logs_run_idx ON sync_logs (run_id);

COMMENT ON COLUMN sync_logs.store_code IS 'the store this row is about; NULL for the job as a whole';
COMMENT ON COLUMN sync_logs.status IS
    'success; failed (message says why, e.g. store_token_expired); partial: a job row whose stores did not all succeed';
COMMENT ON COLUMN sync_logs.rows IS 'records received from the upstream (for a job row: over all its stores)';
COMMENT ON COLUMN sync_logs.run_time IS 'when the row was written: the end of that store''s work, or of the job';
