-- The sync engine's own tables, shared by every source (sync_pipeline/engine/).
--
-- sync_checkpoints: where a (pipeline, partition) stream stands; advanced in the same
--   transaction as the batch it covers, so a resumed run neither skips nor repeats a page.
-- sync_quarantine: records that could not be typed, with their reason and raw JSON; written in
--   the same transaction as their batch. raw_json is text, not jsonb: jsonb rejects the
--   \u0000 escape, and a NUL byte in a string is one of the reasons a record lands here.
-- sync_change_log: one row per changed column of an updated row (old and new value as jsonb),
--   plus deleted_at entries for soft-deletes and revivals; written in the merge transaction.
-- Staging tables are not here: each batch COPYs into a TEMP table of its session
-- (sync_pipeline/engine/staging.py), which needs no migration and no cleanup.

CREATE TABLE sync_checkpoints (
    pipeline    text        NOT NULL,
    partition   text        NOT NULL,
    run_id      text        NOT NULL,
    page        integer     CHECK (page >= 0),
    cursor      text,
    rows_done   bigint      NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    status      text        NOT NULL CHECK (status IN ('running', 'failed', 'completed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, partition)
);

COMMENT ON COLUMN sync_checkpoints.page IS 'last page whose records are committed (NULL: none yet)';
COMMENT ON COLUMN sync_checkpoints.cursor IS 'cursor to continue from, for cursor-paginated sources';
COMMENT ON COLUMN sync_checkpoints.run_id IS 'the run that owns the checkpoint now (a resuming run takes it over)';

CREATE TABLE sync_quarantine (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text        NOT NULL,
    entity          text        NOT NULL,
    run_id          text        NOT NULL,
    record_key      text,
    reason          text        NOT NULL,
    raw_json        text        NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sync_quarantine_entity_idx ON sync_quarantine (entity, quarantined_at);
CREATE INDEX sync_quarantine_run_idx ON sync_quarantine (run_id);

COMMENT ON COLUMN sync_quarantine.record_key IS
    'the key as text (a JSON array for composite keys); NULL when the record has no usable key';
COMMENT ON COLUMN sync_quarantine.raw_json IS
    'the record exactly as received, serialised as JSON text (cast to jsonb only if it has no \u0000)';

CREATE TABLE sync_change_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       text        NOT NULL,
    entity       text        NOT NULL,
    record_key   text        NOT NULL,
    column_name  text        NOT NULL,
    old_value    jsonb,
    new_value    jsonb,
    changed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sync_change_log_record_idx ON sync_change_log (entity, record_key, changed_at);
CREATE INDEX sync_change_log_run_idx ON sync_change_log (run_id);
