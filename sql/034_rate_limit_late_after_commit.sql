-- Judge a slot's lateness after the check has ended, and make the check cheap.
--
-- 033's check re-read the row FOR UPDATE, which marks the row and so made the check's
-- transaction a writing one: its COMMIT waited for a WAL flush, a few milliseconds and, on a busy
-- disk, tens. And it read the clock before that COMMIT, so the flush fell outside `late_by_s` and
-- outside the caller's own measure of the way back (`waited_s` includes it): 21 grants in one
-- second were seen at idle by `bench limiter`. Here the check is a plain read (it still sees every
-- claim and 429 committed before it; one committing at that very moment counts as coming just
-- after), so its COMMIT writes nothing; the clock is read after it, and `late_by_s` is taken at the
-- very end, so everything the procedure spends after the slot counts.
CREATE OR REPLACE PROCEDURE rate_limit_acquire(p_key text, p_interval_s double precision,
                                               p_burst integer, p_window_max integer,
                                               p_window_s double precision,
                                               p_late_s double precision,
                                               INOUT interval_s double precision DEFAULT NULL,
                                               INOUT claims integer DEFAULT NULL,
                                               INOUT waited_s double precision DEFAULT NULL,
                                               INOUT late_by_s double precision DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_row     rate_limits%ROWTYPE;
    v_now     timestamptz;
    v_slot    timestamptz;
    v_kept    integer;
BEGIN
    claims := 0;
    LOOP
        INSERT INTO rate_limits (key, next_slot_at) VALUES (p_key, '-infinity') ON CONFLICT (key) DO NOTHING;
        SELECT * INTO v_row FROM rate_limits WHERE key = p_key FOR UPDATE;
        v_now := clock_timestamp();
        interval_s := p_interval_s * CASE WHEN v_now < v_row.slow_until THEN v_row.slowdown ELSE 1 END;
        v_slot := greatest(v_row.next_slot_at, v_row.paused_until,
                           v_now - make_interval(secs => (p_burst - 1) * interval_s));
        v_kept := coalesce(array_length(v_row.recent_slots, 1), 0);
        IF v_kept >= p_window_max THEN
            v_slot := greatest(v_slot, v_row.recent_slots[v_kept - p_window_max + 1]
                                       + make_interval(secs => p_window_s));
        END IF;
        UPDATE rate_limits
           SET next_slot_at = v_slot + make_interval(secs => interval_s),
               recent_slots = (v_row.recent_slots || v_slot)[greatest(1, v_kept + 2 - p_window_max):],
               updated_at = v_now
         WHERE key = p_key;
        DELETE FROM rate_limits WHERE updated_at < v_now - interval '1 day' AND key <> p_key;
        COMMIT;
        claims := claims + 1;
        PERFORM pg_sleep(greatest(0, extract(epoch FROM v_slot - clock_timestamp())));
        -- Sees any claim or 429 committed meanwhile; takes no lock, so the COMMIT flushes nothing.
        SELECT * INTO v_row FROM rate_limits WHERE key = p_key;
        COMMIT;
        v_now := clock_timestamp();
        EXIT WHEN v_row.paused_until <= v_now AND v_now <= v_slot + make_interval(secs => p_late_s);
    END LOOP;
    late_by_s := greatest(0, extract(epoch FROM clock_timestamp() - v_slot));
    waited_s := extract(epoch FROM clock_timestamp() - v_started);
END
$$;
