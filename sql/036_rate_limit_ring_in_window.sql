-- Keep in the slot ring only the slots that can still hold a new one back.
--
-- 033's ring kept the last `p_window_max` slots whatever their age. For a high limit (a client
-- allowed 1,000 requests/s keeps up to 1,000 timestamps) every claim rewrote an array of kilobytes,
-- stored out of line (TOAST): an unchanged cars re-sync at a lifted limit wrote 0.3 MB of WAL for
-- the ring after one run on its key and 2.4 MB after three, more than the sync's own bookkeeping.
-- A slot older than one window before the slot being claimed can never push that slot later (the
-- cap only asks for `p_window_s` after the slot `p_window_max` grants before), so dropping those
-- first changes no grant: the ring then holds at most the slots of one window, a few dozen bytes
-- for the APIs here. Otherwise the procedure is 034's.
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
    v_ring    timestamptz[];
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
        v_ring := ARRAY(SELECT s FROM unnest(v_row.recent_slots) WITH ORDINALITY AS r(s, n)
                         WHERE s > v_slot - make_interval(secs => p_window_s) ORDER BY n);
        v_kept := coalesce(array_length(v_ring, 1), 0);
        IF v_kept >= p_window_max THEN
            v_slot := greatest(v_slot, v_ring[v_kept - p_window_max + 1]
                                       + make_interval(secs => p_window_s));
        END IF;
        UPDATE rate_limits
           SET next_slot_at = v_slot + make_interval(secs => interval_s),
               recent_slots = (v_ring || v_slot)[greatest(1, v_kept + 2 - p_window_max):],
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
