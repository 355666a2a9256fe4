-- A sliding-window cap on the shared bucket's slots, and no late sends.
--
-- With slots one interval apart (012), four processes on one key at 19.9/s still put 21 requests
-- into one second of a 20/s limit, by the upstream's count and by the limiter's own grants: a
-- paced stream has only 20 intervals minus 1 s (5 ms at 19.9/s) of slack per window, and a
-- request that goes out δ after its slot makes send(j + 20) - send(j) = 20 intervals - δ. A
-- backend that wakes from pg_sleep late on a busy machine, or a client whose event loop resumes
-- late, uses that slack up.
--
-- Two rules close that, both on the database's clock:
-- * the cap: a slot is granted at least `p_window_s` after the slot `p_window_max` grants before
--   it (`recent_slots` keeps the last ones), so no `p_window_s` ever holds more than
--   `p_window_max` slots, whatever the interval, the burst or the pauses;
-- * the late rule: a caller that wakes (or gets the row back) more than `p_late_s` after its slot
--   gives the slot up and claims a new one, so a late send can never crowd a window: every
--   request leaves within `p_late_s` of a slot that the cap spaced.
-- `late_by_s` is how late after its slot the caller was let go, `waited_s` the time from the
-- call's start to its answer, both on the database's clock, so that the caller can tell (from its
-- own elapsed time, a duration, not a clock reading) that the answer reached it too late for
-- `p_late_s` in all, and claim again too.
ALTER TABLE rate_limits ADD COLUMN recent_slots timestamptz[] NOT NULL DEFAULT '{}';

COMMENT ON COLUMN rate_limits.recent_slots IS
    'The most recent granted slots (oldest first), at most the window cap of the last caller';

DROP PROCEDURE rate_limit_acquire(text, double precision, integer, double precision, integer);

CREATE PROCEDURE rate_limit_acquire(p_key text, p_interval_s double precision, p_burst integer,
                                    p_window_max integer, p_window_s double precision,
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
        -- The row lock orders this check after any claim or 429 committed meanwhile.
        SELECT * INTO v_row FROM rate_limits WHERE key = p_key FOR UPDATE;
        v_now := clock_timestamp();
        COMMIT;
        EXIT WHEN v_row.paused_until <= v_now AND v_now <= v_slot + make_interval(secs => p_late_s);
    END LOOP;
    late_by_s := greatest(0, extract(epoch FROM v_now - v_slot));
    waited_s := extract(epoch FROM clock_timestamp() - v_started);
END
$$;

COMMENT ON PROCEDURE rate_limit_acquire(text, double precision, integer, integer, double precision,
                                        double precision, double precision, integer, double precision,
                                        double precision) IS
    'Claim a send slot of a key (spaced, window-capped) and return within p_late_s of it, on the database clock; call in autocommit';
