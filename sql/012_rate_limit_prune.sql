-- Prune the buckets of keys nobody used for a day on every claim, not by chance: `rate_limits`
-- holds one row per API key (and per benchmark or test key), so the table stays as small as the
-- keys in use and the scan is a handful of rows. Otherwise as 011.
CREATE OR REPLACE PROCEDURE rate_limit_acquire(p_key text, p_interval_s double precision, p_burst integer,
                                               INOUT interval_s double precision DEFAULT NULL,
                                               INOUT claims integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_row  rate_limits%ROWTYPE;
    v_now  timestamptz;
    v_slot timestamptz;
BEGIN
    claims := 0;
    LOOP
        INSERT INTO rate_limits (key, next_slot_at) VALUES (p_key, '-infinity') ON CONFLICT (key) DO NOTHING;
        SELECT * INTO v_row FROM rate_limits WHERE key = p_key FOR UPDATE;
        v_now := clock_timestamp();
        interval_s := p_interval_s * CASE WHEN v_now < v_row.slow_until THEN v_row.slowdown ELSE 1 END;
        v_slot := greatest(v_row.next_slot_at, v_row.paused_until,
                           v_now - make_interval(secs => (p_burst - 1) * interval_s));
        UPDATE rate_limits
           SET next_slot_at = v_slot + make_interval(secs => interval_s), updated_at = v_now
         WHERE key = p_key;
        DELETE FROM rate_limits WHERE updated_at < v_now - interval '1 day' AND key <> p_key;
        COMMIT;
        claims := claims + 1;
        PERFORM pg_sleep(greatest(0, extract(epoch FROM v_slot - clock_timestamp())));
        EXIT WHEN NOT EXISTS (SELECT 1 FROM rate_limits WHERE key = p_key AND paused_until > clock_timestamp());
    END LOOP;
END
$$;
