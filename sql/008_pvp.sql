-- pvp: leaderboards per region and bracket (upstream-api.md section 4), the characters on them
-- and their equipment.
--
-- pvp_leaderboards          one row per board snapshot the pipeline stored (region, bracket,
--                           snapshot_at); re-storing the same snapshot finds this row again.
--                           equipment_processed_at is set once every public character of the
--                           snapshot has current equipment (fetched, reused or skipped).
-- pvp_leaderboard_entries   one row per entry of a snapshot: rank, rating, the character and its
--                           stats (played, won, lost as columns: the equipment rule reads played),
--                           and the equipment snapshot the entry is linked to.
-- pvp_characters            one row per character, unique on the upstream id and region; name and
--                           realm changes are logged in sync_change_log (entity pvp_characters).
--                           is_private: the equipment endpoint answered character_private, so
--                           no call is made for it again; not_found_at: it answered
--                           character_not_found (renamed or deleted). Both are cleared when the
--                           board shows a new name or realm (a new equipment path).
--                           equipment_claimed_at: when a run last took the equipment call of the
--                           character, so concurrent boards of one sync fetch it once.
-- pvp_equipment_snapshots   one row per equipment fetch of a character: when, at which played
--                           count, and the xxh3-128 fingerprint of what it held.
-- pvp_equipment_items       the item catalogue (id, name, quality), upserted from the payloads.
-- pvp_equipped_items        what each character wears now, one row per slot; a refetch rewrites
--                           only the slots that changed (equipment_snapshot_id: the fetch that
--                           last changed the slot).

CREATE TABLE pvp_characters (
    id                    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id          bigint      NOT NULL,
    region                text        NOT NULL,
    name                  text        NOT NULL,
    realm                 text        NOT NULL,
    class                 text,
    spec                  text,
    faction               text,
    extra                 jsonb,
    is_private            boolean     NOT NULL DEFAULT false,
    not_found_at          timestamptz,
    equipment_claimed_at  timestamptz,
    first_seen_at         timestamptz NOT NULL DEFAULT now(),
    synced_at             timestamptz NOT NULL DEFAULT now(),
    last_run_id           text        NOT NULL,
    UNIQUE (character_id, region)
);

CREATE TABLE pvp_leaderboards (
    id                      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region                  text        NOT NULL,
    bracket                 text        NOT NULL,
    season                  integer     NOT NULL,
    snapshot_at             timestamptz NOT NULL,
    entries                 integer     NOT NULL CHECK (entries >= 0),
    equipment_processed_at  timestamptz,
    synced_at               timestamptz NOT NULL DEFAULT now(),
    last_run_id             text        NOT NULL,
    UNIQUE (region, bracket, snapshot_at)
);

CREATE TABLE pvp_equipment_snapshots (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_pk   bigint      NOT NULL REFERENCES pvp_characters (id),
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    played         integer,
    fingerprint    bytea       NOT NULL CHECK (octet_length(fingerprint) = 16),
    items          integer     NOT NULL CHECK (items >= 0),
    last_run_id    text        NOT NULL
);

CREATE TABLE pvp_leaderboard_entries (
    snapshot_id            bigint  NOT NULL REFERENCES pvp_leaderboards (id),
    character_pk           bigint  NOT NULL REFERENCES pvp_characters (id),
    rank                   integer NOT NULL,
    rating                 integer NOT NULL,
    played                 integer NOT NULL,
    won                    integer NOT NULL,
    lost                   integer NOT NULL,
    extra                  jsonb,
    equipment_snapshot_id  bigint  REFERENCES pvp_equipment_snapshots (id),
    PRIMARY KEY (snapshot_id, character_pk)
);

CREATE TABLE pvp_equipment_items (
    id             bigint      PRIMARY KEY,
    name           text        NOT NULL,
    quality        text,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pvp_equipped_items (
    character_pk           bigint      NOT NULL REFERENCES pvp_characters (id),
    slot                   text        NOT NULL,
    item_id                bigint      NOT NULL REFERENCES pvp_equipment_items (id),
    item_level             integer,
    enchantments           jsonb       NOT NULL DEFAULT '[]',
    equipment_snapshot_id  bigint      NOT NULL REFERENCES pvp_equipment_snapshots (id),
    synced_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (character_pk, slot)
);

-- The four indexes the pipeline's queries need (plans: sync_pipeline_tests/pipelines/pvp/
-- test_pvp_query_plans.py):
-- latest entries per character: a character's previous entry on the same board (the equipment
-- rule compares its played count), newest snapshot first.
CREATE INDEX pvp_entries_character_latest_idx
    ON pvp_leaderboard_entries (character_pk, snapshot_id DESC) INCLUDE (played);
-- snapshots with processed equipment: the latest processed snapshot of a board (coverage check).
CREATE INDEX pvp_leaderboards_processed_idx
    ON pvp_leaderboards (region, bracket, snapshot_at DESC) WHERE equipment_processed_at IS NOT NULL;
-- private characters: the ones never to call for, per region (skipped before any call).
CREATE INDEX pvp_characters_private_idx
    ON pvp_characters (region, character_id) WHERE is_private;
-- snapshot time: a character's latest equipment snapshot (reused, or too old and refetched).
CREATE INDEX pvp_equipment_snapshots_latest_idx
    ON pvp_equipment_snapshots (character_pk, fetched_at DESC);
