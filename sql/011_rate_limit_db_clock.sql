-- Send slots on the database's clock only. `rate_limit_claim` (001) answered slot times as
-- "seconds from the database's now", which each process placed on its own clock at the moment it
-- sent the query: query latency and event-loop delays moved one process's slots against
-- another's, and four processes on one key sent 21 requests in one second of a 20/s limit.
--
-- `rate_limit_acquire` claims the next slot, commits (the row is free again at once), sleeps
-- until that slot on the server's clock, then answers: a request goes out when the database's
-- clock says so, for every process alike. A 429 that any process reported while the caller slept
-- (`rate_limit_throttle` moves `paused_until`) is seen before the caller's request is sent: it
-- claims again, after the pause. Keys unused for a day are pruned now and then, so the table
-- holds only the buckets in use.
CREATE PROCEDURE rate_limit_acquire(p_key text, p_interval_s double precision, p_burst integer,
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
        IF random() < 0.001 THEN
            DELETE FROM rate_limits WHERE updated_at < v_now - interval '1 day';
        END IF;
        COMMIT;
        claims := claims + 1;
        PERFORM pg_sleep(greatest(0, extract(epoch FROM v_slot - clock_timestamp())));
        EXIT WHEN NOT EXISTS (SELECT 1 FROM rate_limits WHERE key = p_key AND paused_until > clock_timestamp());
    END LOOP;
END
$$;

COMMENT ON PROCEDURE rate_limit_acquire(text, double precision, integer, double precision, integer) IS
    'Claim the next send slot of a key and return at that slot, on the database clock; call in autocommit';

-- Its slot arithmetic lives on in rate_limit_acquire; nothing calls it any more.
DROP FUNCTION rate_limit_claim(text, double precision, integer, integer);
