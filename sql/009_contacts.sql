-- contacts: the CRM API (upstream-api.md section 5), its field-change triggers, the change log
-- they feed and the durable workflow queue that delivers webhooks.
--
-- Flow of one change, all but the last step in the transaction that updates the contact:
--   UPDATE contacts (stage sql -> opportunity)
--     -> contacts_watched_change (row trigger): one indexed lookup in contact_watched_fields;
--        no watched field changed: done; else one contact_field_changes row per changed watched
--        field, and NOTIFY contact_field_changes (a wake-up only: the table is the truth)
--     -> dispatcher (sync_pipeline/workflows/dispatcher.py): claims undispatched changes,
--        enqueues one workflow_executions row per matching trigger and change (idempotent),
--        marks the changes dispatched, NOTIFY workflow_executions
--     -> workers (sync_pipeline/workflows/worker.py): dequeue by priority with SKIP LOCKED under
--        a lease, POST the webhook with Idempotency-Key, complete / retry / dead-letter.

-- One row per contact, keyed by its uuid; a snapshot covers one workspace (the scope column).
-- Bookkeeping columns as in every synced table (sql/003_cars.sql).
CREATE TABLE contacts (
    id             uuid        PRIMARY KEY,
    workspace_id   text        NOT NULL,
    name           text,
    email          text,
    stage          text,
    owner_id       bigint,
    custom_fields  jsonb,
    updated_at     timestamptz,
    extra          jsonb,
    fingerprint    bytea       NOT NULL CHECK (octet_length(fingerprint) = 16),
    deleted_at     timestamptz,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz NOT NULL DEFAULT now(),
    last_run_id    text        NOT NULL
);

CREATE INDEX contacts_workspace_idx ON contacts (workspace_id, id);

-- A workflow trigger: when `field` of a contact in `workspace_id` changes (optionally only from
-- `from_value` and/or to `to_value`, compared as JSON), POST the change to `webhook_url`.
-- `field` is a top-level contact field or `custom_fields.<key>`.
CREATE TABLE triggers (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  text        NOT NULL,
    field         text        NOT NULL CHECK (field IN ('name', 'email', 'stage', 'owner_id')
                                              OR (field LIKE 'custom\_fields.%' AND length(field) > 14)),
    from_value    jsonb,
    to_value      jsonb,
    webhook_url   text        NOT NULL CHECK (webhook_url ~ '^https?://'),
    priority      smallint    NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    max_attempts  integer     NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 100),
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX triggers_match_idx ON triggers (workspace_id, field) WHERE active;

COMMENT ON COLUMN triggers.priority IS '1 is delivered first, 10 last';

-- The fields each workspace's active triggers watch, kept by the trigger on `triggers` below, so
-- the row trigger on `contacts` needs one primary-key lookup to know whether to look closer.
CREATE TABLE contact_watched_fields (
    workspace_id  text   PRIMARY KEY,
    fields        text[] NOT NULL,
    custom_keys   text[] NOT NULL
);

COMMENT ON COLUMN contact_watched_fields.fields IS 'watched top-level fields (name, email, stage, owner_id)';
COMMENT ON COLUMN contact_watched_fields.custom_keys IS 'watched custom_fields keys';

CREATE FUNCTION refresh_contact_watched_fields(ws text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Serialise refreshes of one workspace: the last one to commit sees every committed trigger.
    PERFORM pg_advisory_xact_lock(hashtextextended('contact_watched_fields:' || ws, 0));
    DELETE FROM contact_watched_fields WHERE workspace_id = ws;
    INSERT INTO contact_watched_fields (workspace_id, fields, custom_keys)
    SELECT ws,
           coalesce(array_agg(DISTINCT field) FILTER (WHERE field NOT LIKE 'custom\_fields.%'), '{}'),
           coalesce(array_agg(DISTINCT substr(field, 15)) FILTER (WHERE field LIKE 'custom\_fields.%'), '{}')
    FROM triggers WHERE workspace_id = ws AND active
    HAVING count(*) > 0;
END $$;

CREATE FUNCTION triggers_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM refresh_contact_watched_fields(OLD.workspace_id);
        PERFORM pg_notify('workflow_triggers', OLD.id::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF TG_OP = 'INSERT' OR NEW.workspace_id <> OLD.workspace_id THEN
            PERFORM refresh_contact_watched_fields(NEW.workspace_id);
        END IF;
        PERFORM pg_notify('workflow_triggers', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER triggers_changed AFTER INSERT OR UPDATE OR DELETE ON triggers
    FOR EACH ROW EXECUTE FUNCTION triggers_changed();

-- One row per changed watched field, written in the transaction of the contact's UPDATE. Old and
-- new values as JSON (NULL: the custom field was absent). Range-partitioned by month on
-- changed_at; maintain_contact_field_changes() creates partitions ahead and drops old ones.
CREATE SEQUENCE contact_field_changes_id_seq AS bigint;

CREATE TABLE contact_field_changes (
    id            bigint      NOT NULL DEFAULT nextval('contact_field_changes_id_seq'),
    workspace_id  text        NOT NULL,
    contact_id    uuid        NOT NULL,
    field         text        NOT NULL,
    old_value     jsonb,
    new_value     jsonb,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    dispatched    boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (id, changed_at)
) PARTITION BY RANGE (changed_at);

ALTER SEQUENCE contact_field_changes_id_seq OWNED BY contact_field_changes.id;

-- Catches rows no monthly partition covers yet (maintenance stopped for months); the next
-- maintenance moves them into their month's partition.
CREATE TABLE contact_field_changes_default PARTITION OF contact_field_changes DEFAULT;

CREATE INDEX contact_field_changes_pending_idx ON contact_field_changes (id) WHERE NOT dispatched;
CREATE INDEX contact_field_changes_contact_idx ON contact_field_changes (contact_id, changed_at);

COMMENT ON COLUMN contact_field_changes.field IS 'a top-level field name or custom_fields.<key>';
COMMENT ON COLUMN contact_field_changes.dispatched IS 'the dispatcher turned it into executions';

CREATE FUNCTION contacts_watched_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    watched contact_watched_fields%ROWTYPE;
    custom_key text;
    logged boolean := false;
BEGIN
    SELECT * INTO watched FROM contact_watched_fields WHERE workspace_id = NEW.workspace_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NEW.stage IS DISTINCT FROM OLD.stage AND 'stage' = ANY (watched.fields) THEN
        INSERT INTO contact_field_changes (workspace_id, contact_id, field, old_value, new_value)
        VALUES (NEW.workspace_id, NEW.id, 'stage', to_jsonb(OLD.stage), to_jsonb(NEW.stage));
        logged := true;
    END IF;
    IF NEW.owner_id IS DISTINCT FROM OLD.owner_id AND 'owner_id' = ANY (watched.fields) THEN
        INSERT INTO contact_field_changes (workspace_id, contact_id, field, old_value, new_value)
        VALUES (NEW.workspace_id, NEW.id, 'owner_id', to_jsonb(OLD.owner_id), to_jsonb(NEW.owner_id));
        logged := true;
    END IF;
    IF NEW.name IS DISTINCT FROM OLD.name AND 'name' = ANY (watched.fields) THEN
        INSERT INTO contact_field_changes (workspace_id, contact_id, field, old_value, new_value)
        VALUES (NEW.workspace_id, NEW.id, 'name', to_jsonb(OLD.name), to_jsonb(NEW.name));
        logged := true;
    END IF;
    IF NEW.email IS DISTINCT FROM OLD.email AND 'email' = ANY (watched.fields) THEN
        INSERT INTO contact_field_changes (workspace_id, contact_id, field, old_value, new_value)
        VALUES (NEW.workspace_id, NEW.id, 'email', to_jsonb(OLD.email), to_jsonb(NEW.email));
        logged := true;
    END IF;
    IF NEW.custom_fields IS DISTINCT FROM OLD.custom_fields THEN
        FOREACH custom_key IN ARRAY watched.custom_keys LOOP
            IF (NEW.custom_fields -> custom_key) IS DISTINCT FROM (OLD.custom_fields -> custom_key) THEN
                INSERT INTO contact_field_changes (workspace_id, contact_id, field, old_value, new_value)
                VALUES (NEW.workspace_id, NEW.id, 'custom_fields.' || custom_key,
                        OLD.custom_fields -> custom_key, NEW.custom_fields -> custom_key);
                logged := true;
            END IF;
        END LOOP;
    END IF;
    IF logged THEN
        PERFORM pg_notify('contact_field_changes', '');
    END IF;
    RETURN NULL;
END $$;

-- The WHEN clause keeps touches (only updated_at or bookkeeping moved) out of the function.
CREATE TRIGGER contacts_watched_change AFTER UPDATE ON contacts
    FOR EACH ROW
    WHEN ((OLD.stage, OLD.owner_id, OLD.name, OLD.email, OLD.custom_fields)
          IS DISTINCT FROM (NEW.stage, NEW.owner_id, NEW.name, NEW.email, NEW.custom_fields))
    EXECUTE FUNCTION contacts_watched_change();

-- Monthly partitions of contact_field_changes from `at`'s month to `months_ahead` months later
-- (rows the default partition holds for them are moved in), and drops those that ended more
-- than `retention_months` before `at`'s month. Answers what it did, one row per partition.
CREATE FUNCTION maintain_contact_field_changes(months_ahead integer DEFAULT 3,
                                               retention_months integer DEFAULT 6,
                                               at timestamptz DEFAULT now())
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql AS $$
DECLARE
    this_month timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    month_start timestamptz;
    part_name text;
    expired record;
BEGIN
    IF months_ahead < 0 OR retention_months < 1 THEN
        RAISE EXCEPTION 'months_ahead must be >= 0 and retention_months >= 1';
    END IF;
    FOR step IN 0..months_ahead LOOP
        month_start := this_month + make_interval(months => step);
        part_name := 'contact_field_changes_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
        CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
        CREATE TEMP TABLE contact_field_changes_moving ON COMMIT DROP AS
            WITH moved AS (
                DELETE FROM contact_field_changes_default
                WHERE changed_at >= month_start AND changed_at < month_start + interval '1 month'
                RETURNING *)
            SELECT * FROM moved;
        EXECUTE format('CREATE TABLE %I PARTITION OF contact_field_changes FOR VALUES FROM (%L) TO (%L)',
                       part_name, month_start, month_start + interval '1 month');
        INSERT INTO contact_field_changes SELECT * FROM contact_field_changes_moving;
        DROP TABLE contact_field_changes_moving;
        action := 'created';
        partition_name := part_name;
        RETURN NEXT;
    END LOOP;
    FOR expired IN
        SELECT c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'contact_field_changes'::regclass
          AND c.relname ~ '^contact_field_changes_p[0-9]{4}_[0-9]{2}$'
          AND (to_date(substr(c.relname, 24), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
              + interval '1 month' <= this_month - make_interval(months => retention_months)
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', expired.relname);
        action := 'dropped';
        partition_name := expired.relname;
        RETURN NEXT;
    END LOOP;
END $$;

SELECT maintain_contact_field_changes();

-- The durable queue: one execution per (trigger, change), whatever happens to either later
-- (the payload holds the change, so it outlives the change log's retention).
--   queued      waiting for scheduled_at
--   processing  leased by lease_owner until lease_expires_at (then reclaimed by any worker)
--   failed      the last attempt failed; retried at scheduled_at
--   completed   the webhook answered 2xx
--   dead        max_attempts failed attempts (or the trigger was deactivated): the dead letters,
--               replayed by `sync-pipeline workflows replay`
CREATE TABLE workflow_executions (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id       uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    trigger_id        bigint      NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    workspace_id      text        NOT NULL,
    contact_id        uuid        NOT NULL,
    change_id         bigint      NOT NULL,
    priority          smallint    NOT NULL CHECK (priority BETWEEN 1 AND 10),
    payload           jsonb       NOT NULL,
    status            text        NOT NULL DEFAULT 'queued'
                                  CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'dead')),
    attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer     NOT NULL CHECK (max_attempts >= 1),
    scheduled_at      timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_error        text,
    last_status_code  integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    UNIQUE (trigger_id, change_id),
    CHECK ((status = 'processing') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

CREATE INDEX workflow_executions_ready_idx ON workflow_executions (priority, scheduled_at, id)
    WHERE status IN ('queued', 'failed');
CREATE INDEX workflow_executions_lease_idx ON workflow_executions (lease_expires_at)
    WHERE status = 'processing';
CREATE INDEX workflow_executions_dead_idx ON workflow_executions (trigger_id, id) WHERE status = 'dead';

COMMENT ON COLUMN workflow_executions.delivery_id IS 'the Idempotency-Key of every attempt, replays included';
COMMENT ON COLUMN workflow_executions.attempts IS 'attempts started (counted when leased)';
