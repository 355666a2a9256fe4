-- cars: the /cars catalogue (upstream-api.md section 2), one row per car id.
--
-- A column per top-level contract field; nested values (dealer, features) as jsonb, so their
-- order and shape are kept exactly. volatile fields (updated_at, scraped_at, views) are stored
-- but hold the value of the last real change: a change of only those never writes the row.
-- Sync bookkeeping, shared by every synced table:
--   extra          unknown top-level fields of the record (NULL when none)
--   fingerprint    xxh3-128 of the canonical JSON of the business fields (16 bytes)
--   deleted_at     set when the car disappears from a full snapshot (soft-delete), NULL while live
--   first_seen_at  when the row was first inserted; kept across updates and revivals
--   synced_at      when the row's current version was written (unchanged rows are not touched)
--   last_run_id    the run that wrote the current version

CREATE TABLE cars (
    id             bigint        PRIMARY KEY,
    vin            text,
    make           text,
    model          text,
    year           integer,
    "trim"         text,
    price          numeric(12,2),
    mileage        bigint,
    color          text,
    fuel           text,
    dealer         jsonb,
    features       jsonb,
    listed_at      timestamptz,
    updated_at     timestamptz,
    scraped_at     timestamptz,
    views          bigint,
    extra          jsonb,
    fingerprint    bytea         NOT NULL CHECK (octet_length(fingerprint) = 16),
    deleted_at     timestamptz,
    first_seen_at  timestamptz   NOT NULL DEFAULT now(),
    synced_at      timestamptz   NOT NULL DEFAULT now(),
    last_run_id    text          NOT NULL
);
