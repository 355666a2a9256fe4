-- Shared rate limits: one row per API key, advanced by every process that sends with that key,
-- so that two Dagster runs, or a backfill and a sensor, together stay under the API's limit.
--
-- The row is a token bucket kept as a schedule of send slots (GCRA): `next_slot_at` is the
-- earliest slot nobody has claimed. A process claims `count` consecutive slots in one call and
-- sends one request per slot; slots never overlap between processes, so the requests of all
-- processes together are spaced at least one interval apart, whatever their number.
CREATE TABLE rate_limits (
    key          text PRIMARY KEY,
    next_slot_at timestamptz      NOT NULL,
    paused_until timestamptz      NOT NULL DEFAULT '-infinity',
    slowdown     double precision NOT NULL DEFAULT 1 CHECK (slowdown >= 1),
    slow_until   timestamptz      NOT NULL DEFAULT '-infinity',
    updated_at   timestamptz      NOT NULL DEFAULT clock_timestamp()
);

COMMENT ON TABLE rate_limits IS
    'Shared token buckets (GCRA send slots) per API key; see sync_pipeline/engine/http/shared_bucket.py';
COMMENT ON COLUMN rate_limits.key IS 'Source name and a one-way digest of the token; never the token';

-- Claim `p_count` consecutive send slots `p_interval_s` apart (longer while slowed down after a
-- 429). After an idle spell the first slot may lie up to `p_burst - 1` intervals in the past,
-- which is the bucket's burst. Returns the first slot as seconds from now (0 or less: send at
-- once) and the interval used.
CREATE FUNCTION rate_limit_claim(p_key text, p_interval_s double precision, p_burst integer, p_count integer)
RETURNS TABLE (first_slot_in_s double precision, interval_s double precision)
LANGUAGE plpgsql AS $$
DECLARE
    v_row      rate_limits%ROWTYPE;
    v_now      timestamptz;
    v_interval double precision;
    v_first    timestamptz;
BEGIN
    INSERT INTO rate_limits (key, next_slot_at) VALUES (p_key, '-infinity') ON CONFLICT (key) DO NOTHING;
    SELECT * INTO v_row FROM rate_limits WHERE key = p_key FOR UPDATE;
    v_now := clock_timestamp();
    v_interval := p_interval_s * CASE WHEN v_now < v_row.slow_until THEN v_row.slowdown ELSE 1 END;
    v_first := greatest(v_row.next_slot_at, v_now - make_interval(secs => (p_burst - 1) * v_interval));
    UPDATE rate_limits
       SET next_slot_at = v_first + make_interval(secs => p_count * v_interval), updated_at = v_now
     WHERE key = p_key;
    RETURN QUERY SELECT extract(epoch FROM v_first - v_now)::double precision, v_interval;
END
$$;

-- The upstream answered 429: no slot before now + `p_pause_s`, and slots `1 / p_rate_factor`
-- times further apart until `p_slow_for_s` after the pause. The slowdown compounds (up to 10
-- times) only for a 429 that comes after the last pause ended: the many 429s that requests
-- already in flight get for one excess count as one.
CREATE FUNCTION rate_limit_throttle(p_key text, p_pause_s double precision, p_rate_factor double precision,
                                    p_slow_for_s double precision)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    INSERT INTO rate_limits (key, next_slot_at) VALUES (p_key, '-infinity') ON CONFLICT (key) DO NOTHING;
    UPDATE rate_limits
       SET next_slot_at = greatest(next_slot_at, v_now + make_interval(secs => p_pause_s)),
           paused_until = greatest(paused_until, v_now + make_interval(secs => p_pause_s)),
           slowdown = CASE WHEN v_now < paused_until THEN slowdown
                           ELSE least(10, CASE WHEN v_now < slow_until THEN slowdown ELSE 1 END / p_rate_factor) END,
           slow_until = greatest(slow_until, v_now + make_interval(secs => p_pause_s + p_slow_for_s)),
           updated_at = v_now
     WHERE key = p_key;
END
$$;
