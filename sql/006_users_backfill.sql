-- users: bootstrap from the list, detail backfill in the background, fresh changes first.
--
-- users.detail_synced_at   when the row last got its detail from GET /users/{id}; NULL for a
--                          row stored from the list only (summary columns set, detail columns
--                          NULL, detail pending as a backfill item). Rows stored before this
--                          migration came from details, so they count as complete.
-- users_pending_changes.priority
--                          0: a fresh change the detector found (fetched ahead of everything);
--                          1: a backfill item (a user known from the list whose detail was never
--                          fetched), fetched in the share of the detail limit fresh changes
--                          leave free, most recently active users first.
-- users_pending_changes.sent_at
--                          when a worker took a detail-limit slot for this version: the backfill
--                          yields only to fresh changes still waiting for a slot.
-- Backfill items are not asked for by a detector tick, so they have no tick and no run key.

ALTER TABLE users ADD COLUMN detail_synced_at timestamptz;
UPDATE users SET detail_synced_at = synced_at;

ALTER TABLE users_pending_changes
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority IN (0, 1)),
    ADD COLUMN sent_at timestamptz,
    ALTER COLUMN requested_tick DROP NOT NULL,
    ALTER COLUMN run_key DROP NOT NULL;

CREATE INDEX users_pending_changes_queue_idx ON users_pending_changes (priority, quarantined_at, sent_at);
CREATE INDEX users_last_seen_idx ON users (last_seen_at DESC NULLS LAST, id);

COMMENT ON COLUMN users.detail_synced_at IS
    'when the detail was last stored; NULL: summary from the list only, detail pending (backfill)';
COMMENT ON COLUMN users_pending_changes.priority IS
    '0 = fresh change (ahead of everything), 1 = backfill item (most recently active first)';
COMMENT ON COLUMN users_pending_changes.sent_at IS
    'when a worker took a detail-limit slot for this version (NULL: still waiting for one)';
