-- An equipment claim belongs to the database session that took it, and dies with it.
--
-- A board's run claims the equipment calls of its characters (`equipment_claimed_at`, 008) so
-- that the other boards of one sync leave them to it, and waits (up to `claim_wait_s`, 10 min by
-- default) for the calls other boards claimed to land. A run killed between claiming and
-- fetching left its claims behind: the board's next run skipped those characters and then waited
-- the whole 10 minutes for calls nobody was making (found by the reliability suite's kill case).
-- The claim now records the claiming backend (pid and start time); a claim whose backend is gone
-- is taken over by the next board that wants the call, and is never waited for. A process keeps
-- its pool's connections (and so its backends) for as long as it runs, and they end with it.
ALTER TABLE pvp_characters
    ADD COLUMN equipment_claimed_pid integer,
    ADD COLUMN equipment_claimed_backend_start timestamptz;

COMMENT ON COLUMN pvp_characters.equipment_claimed_pid IS
    'the backend (pg_backend_pid) that took the equipment claim; a claim is live while it runs';
COMMENT ON COLUMN pvp_characters.equipment_claimed_backend_start IS
    'that backend''s start time, so a reused pid does not keep a dead claim alive';

-- The claiming session's own identity, for the claim.
CREATE FUNCTION pvp_claim_backend_start() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()
$$;

-- Whether the session that took a claim still runs (a claim from before 035 has no owner: dead).
CREATE FUNCTION pvp_claim_live(p_pid integer, p_backend_start timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT FROM pg_stat_activity
                   WHERE pid = p_pid AND backend_start IS NOT DISTINCT FROM p_backend_start)
$$;
