"""The pvp source (upstream-api.md section 4) without Dagster: `leaderboard` fetches and stores a
board with its characters, `equipment` applies the equipment rule to a stored snapshot, `sync`
composes them; `settings` holds the `PVP_*` knobs."""
