"""The reference upstream service: all five APIs of shared/upstream-api.md, with fault profiles.

Run it with `sync-pipeline upstream --port 8700 [--profile none|seed|hostile] [--seed N]
[--sizes cars=20000,users=5000] [--token T]` (or `python -m sync_pipeline.upstream`, same flags;
the token may come from `SYNC_UPSTREAM_TOKEN`). It generates its data before it opens the port;
`GET /openapi.json` (no token needed) answers once it is ready. Tests and benchmarks start it in
a child process with `sync_pipeline.upstream.process.UpstreamProcess`.

Data (`data/`): deterministic per (seed, sizes): the same seed gives byte-identical records.
Defaults: 200,000 cars, 50,000 users, 300 stores with 101-200 users and 301-400 videos each,
5,000 entries per PvP leaderboard (4 regions x 4 brackets), 5 workspaces with 20,000 contacts.
`data.generate_cars(seed, count)` gives the cars in process, exactly as served.

Admin endpoints (token required when one is configured):
- `POST /_admin/reset {"seed": 1, "sizes": {"cars": 5000, ...}}` -> `{"seed", "sizes", "counts",
  "generation_s"}`.
- `POST /_admin/mutate {"source": "cars"|"users"|"stores"|"store_users"|"store_videos"|"pvp"|
  "contacts", "update": 0.01, "touch": 0.05, "delete": 0.001, "insert": 100}` -> `{"source",
  "updated": [ids], "touched": [ids], "deleted": [ids], "inserted": [ids], "updated_at": TS}`.
  Shares are of the current records (count = round(share * n), no record in two lists);
  every updated, touched or inserted record gets `updated_at` = the answer's `updated_at`.
- `POST /_admin/faults {"source": "cars"|"*", "profile", "rps", "burst", "latency_ms": [p50, p99],
  "error_rate", "timeout_rate", "malformed_rate", "drop_rate", "storm_rate", "shift_rate",
  "timeout_s", "storm_s", "data_oddities", "vanishing_users", "expired_store_share",
  "expired_stores", "endpoint"}` (all optional but source; `profile` resets first) -> the
  effective settings per source; `GET /_admin/faults` shows them.
- `GET /_admin/stats` -> per endpoint and per limit group, per token label (`auth.token_label`):
  requests, served, throttled (429s), faults by kind, `max_requests_in_1s` (sliding window).
  `POST /_admin/stats/reset` forgets them. `GET /_admin/info`: seed, sizes, counts, profiles.

Profiles, limits and fault rates: see `profiles`. Fault injection: `gate` and `faults`.
One process, one event loop: the state is not shared between worker processes.
"""
